import { createHash, createPrivateKey, KeyObject, randomUUID, sign, X509Certificate } from 'node:crypto';
import { describeConnectionFailure } from '../net/errors';
import { isLoopbackHost } from '../reference/reference';
import { readLimitedText, type EntraTokenRequest } from '../registry/auth';
import { RegistryError } from '../registry/errors';
import { isRetryable, parseRetryAfter, retryOptions, withRetry, type RetryOptions } from '../registry/retry';

/*
 * Getting an Entra ID access token for Azure Container Registry, the three ways Azure DevOps connections allow:
 * - client credentials at the authority's v2.0 token endpoint, with a client assertion: the job's OIDC token from
 *   Azure DevOps (workload identity federation) or a JWT signed with the service principal's certificate (`x5t`);
 * - the instance metadata service's token for the VM's managed identity.
 * Microsoft's azure-arm-rest (azure-arm-common.ts) does the same for ARM: the IMDS route with `Metadata: true` and an
 * optional `client_id`, the certificate assertion with `aud` = the token endpoint and `iss` = `sub` = the client id.
 * Unlike it, the certificate and the OIDC token never touch a file. Every call goes through the fetch the caller
 * gives (the agent's proxy and certificates); IMDS is reached directly whatever that says (net/route.ts).
 */

/** Entra's scope for ACR tokens: accepted even by registries that refuse ARM-audience tokens. */
export const ACR_SCOPE = 'https://containerregistry.azure.net/.default';
/** The same audience as a v1 `resource`, the form the instance metadata service takes. */
export const ACR_RESOURCE = 'https://containerregistry.azure.net';
/** The public cloud's authority, when a connection names none. */
export const PUBLIC_CLOUD_AUTHORITY = 'https://login.microsoftonline.com/';
/** The instance metadata service's token endpoint (Azure IMDS, managed identities). */
export const IMDS_TOKEN_URL = 'http://169.254.169.254/metadata/identity/oauth2/token';
/** The IMDS API version Microsoft's tasks use. */
export const IMDS_API_VERSION = '2018-02-01';
/** RFC 7523's client assertion type. */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** A certificate-signed assertion is used at once: ten minutes cover clock skew and nothing more. */
export const ASSERTION_LIFETIME_SECONDS = 600;
/** The Azure DevOps REST version of the plan/job `oidctoken` route the tasks use. */
export const OIDC_TOKEN_API_VERSION = '7.1-preview.1';

/** Options shared by every call here: the transport, and a retry policy for temporary failures (429, 5xx, resets). */
export interface SignInCallOptions extends EntraTokenRequest {
  retry?: Partial<RetryOptions>;
}

interface JsonAnswer {
  status: number;
  body: Record<string, unknown>;
  text: string;
  retryAfterMs?: number;
}

/** The first line of an OAuth `error_description` (Entra appends trace and correlation ids on further lines). */
function firstLine(text: string): string {
  return text.split(/\r?\n/)[0].trim();
}

/** Refuses to send a secret or an assertion to a plain-HTTP endpoint off the loopback. */
function assertSecure(url: URL, what: string): void {
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.host))) return;
  throw new RegistryError({
    status: 0,
    code: 'INSECURE_ENDPOINT',
    message: `${what} ${url.origin} is not HTTPS: refusing to send credentials to it`,
    temporary: false,
  });
}

/** One request with the one retry policy; the answer parsed as JSON (an empty object when it is not JSON). */
async function call(url: URL, init: RequestInit, options: SignInCallOptions, what: string): Promise<JsonAnswer> {
  const retry = retryOptions(options.retry);
  return withRetry(
    async () => {
      let response: Response;
      try {
        response = await options.fetch(url, { ...init, signal: options.signal });
      } catch (error) {
        if (options.signal?.aborted) throw error;
        const failure = describeConnectionFailure(error, url.toString(), options.network);
        throw new RegistryError({
          status: 0,
          code: 'NETWORK_ERROR',
          message: `${what}: ${failure.message}`,
          url: url.toString(),
          method: init.method,
          temporary: failure.temporary,
          cause: error,
        });
      }
      const text = await readLimitedText(response, 1024 * 1024);
      let body: Record<string, unknown> = {};
      try {
        const parsed = JSON.parse(text) as unknown;
        if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
      } catch {
        body = {};
      }
      const answer = {
        status: response.status,
        body,
        text,
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), retry.now()),
      };
      if (response.status >= 500 || response.status === 429 || response.status === 408)
        throw refusal(answer, url, init.method ?? 'GET', what);
      return answer;
    },
    retry,
    { signal: options.signal, retryable: isRetryable },
  );
}

/** An OAuth error answer (`{"error","error_description"}`) as a RegistryError: `400 INVALID_CLIENT: AADSTS…`. */
function refusal(answer: JsonAnswer, url: URL, method: string, what: string): RegistryError {
  const code = typeof answer.body.error === 'string' && answer.body.error ? answer.body.error.toUpperCase() : undefined;
  const description = typeof answer.body.error_description === 'string' ? firstLine(answer.body.error_description) : '';
  const message = typeof answer.body.message === 'string' ? firstLine(answer.body.message) : '';
  const detail =
    description ||
    message ||
    answer.text
      .replace(/<[^>]*>/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
      .slice(0, 200);
  return new RegistryError({
    status: answer.status,
    code: code ?? (answer.status >= 500 ? 'INTERNAL_ERROR' : `HTTP_${answer.status}`),
    message: `${what}${detail ? `: ${detail}` : ''}`,
    url: url.toString(),
    method,
    retryAfterMs: answer.retryAfterMs,
  });
}

function stringField(answer: JsonAnswer, field: string, url: URL, method: string, what: string): string {
  const value = answer.body[field];
  if (typeof value === 'string' && value) return value;
  throw new RegistryError({
    status: answer.status,
    code: 'BAD_TOKEN_RESPONSE',
    message: `${what}: the answer has no ${field}`,
    url: url.toString(),
    method,
    temporary: false,
  });
}

/** `https://login.microsoftonline.com/` + tenant → `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`. */
export function entraTokenUrl(authority: string, tenant: string): URL {
  let base: URL;
  try {
    base = new URL(authority.endsWith('/') ? authority : `${authority}/`);
  } catch {
    throw new RegistryError({ status: 0, code: 'BAD_AUTHORITY', message: `the authority '${authority}' is not a URL`, temporary: false });
  }
  return new URL(`${encodeURIComponent(tenant)}/oauth2/v2.0/token`, base);
}

/** What `requestEntraToken` needs: the client and one proof, a secret or an assertion. */
export interface ClientCredentialsGrant {
  /** Where Entra answers: `https://login.microsoftonline.com/` (sovereign clouds have their own). */
  authority: string;
  tenant: string;
  clientId: string;
  /** Default: {@link ACR_SCOPE}. */
  scope?: string;
  clientSecret?: string;
  /** A signed JWT: the job's OIDC token, or a certificate-signed assertion. */
  clientAssertion?: string;
}

/**
 * The OAuth 2.0 client credentials grant at the authority's v2.0 endpoint (Microsoft identity platform,
 * "client credentials flow": `client_id`, `scope`, `grant_type=client_credentials`, and `client_secret` or
 * `client_assertion_type` + `client_assertion`). Returns the access token. Throws RegistryError with Entra's
 * `AADSTS…` line on refusal (a wrong tenant, an unknown client, an expired or foreign assertion).
 */
export async function requestEntraToken(grant: ClientCredentialsGrant, options: SignInCallOptions): Promise<string> {
  const url = entraTokenUrl(grant.authority, grant.tenant);
  assertSecure(url, 'the Entra ID authority');
  const form = new URLSearchParams({ client_id: grant.clientId, scope: grant.scope ?? ACR_SCOPE, grant_type: 'client_credentials' });
  if (grant.clientAssertion) {
    form.set('client_assertion_type', JWT_BEARER_ASSERTION);
    form.set('client_assertion', grant.clientAssertion);
  } else if (grant.clientSecret) {
    form.set('client_secret', grant.clientSecret);
  }
  const what = `Entra ID token for client '${grant.clientId}' in tenant '${grant.tenant}'`;
  const answer = await call(
    url,
    { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }, body: form.toString() },
    options,
    what,
  );
  if (answer.status !== 200) throw refusal(answer, url, 'POST', `Entra ID refused client '${grant.clientId}' in tenant '${grant.tenant}'`);
  return stringField(answer, 'access_token', url, 'POST', what);
}

/** What `requestManagedIdentityToken` needs. */
export interface ManagedIdentityRequest {
  /** The token endpoint; default {@link IMDS_TOKEN_URL} (moved only by the README's test seam). */
  endpoint?: string;
  /** Default {@link ACR_RESOURCE}. */
  resource?: string;
  /** A user-assigned identity's client id; omitted, the VM's system-assigned identity answers. */
  clientId?: string;
}

/**
 * The managed identity's token from the instance metadata service (Azure IMDS: `GET …/metadata/identity/oauth2/token
 * ?api-version=2018-02-01&resource=…[&client_id=…]` with `Metadata: true`). Throws RegistryError when the VM has
 * no such identity.
 */
export async function requestManagedIdentityToken(request: ManagedIdentityRequest, options: SignInCallOptions): Promise<string> {
  const url = new URL(request.endpoint ?? IMDS_TOKEN_URL);
  url.searchParams.set('api-version', IMDS_API_VERSION);
  url.searchParams.set('resource', request.resource ?? ACR_RESOURCE);
  if (request.clientId) url.searchParams.set('client_id', request.clientId);
  const who = request.clientId ? `managed identity '${request.clientId}'` : "the agent machine's managed identity";
  const answer = await call(url, { method: 'GET', headers: { Metadata: 'true', accept: 'application/json' } }, options, `token of ${who}`);
  if (answer.status !== 200) throw refusal(answer, url, 'GET', `the instance metadata service has no token for ${who}`);
  return stringField(answer, 'access_token', url, 'GET', `token of ${who}`);
}

/** Where the job's OIDC token comes from: the plan and job of this run, as the agent's variables name them. */
export interface PipelineOidcRequest {
  /** `System.CollectionUri`, e.g. `https://dev.azure.com/org/`. */
  collectionUri: string;
  /** `System.TeamProjectId`. */
  projectId: string;
  /** `System.HostType`: `build` or `release`. */
  hub: string;
  /** `System.PlanId`. */
  planId: string;
  /** `System.JobId`. */
  jobId: string;
  /** The service connection the token is for (its id). */
  serviceConnectionId: string;
  /** The job's access token (SystemVssConnection). */
  accessToken: string;
}

/**
 * The job's OIDC token for a service connection: `POST {collection}{project}/_apis/distributedtask/hubs/{hub}/plans/
 * {planId}/jobs/{jobId}/oidctoken?serviceConnectionId=…&api-version=7.1-preview.1` (TaskApi.createOidcToken in
 * azure-devops-node-api; Microsoft's tasks build the same route from the same variables). Its `oidcToken` is the
 * client assertion of workload identity federation.
 */
export async function requestPipelineOidcToken(request: PipelineOidcRequest, options: SignInCallOptions): Promise<string> {
  const base = request.collectionUri.endsWith('/') ? request.collectionUri : `${request.collectionUri}/`;
  const path = ['_apis', 'distributedtask', 'hubs', request.hub, 'plans', request.planId, 'jobs', request.jobId, 'oidctoken']
    .map(encodeURIComponent)
    .join('/');
  const url = new URL(`${encodeURIComponent(request.projectId)}/${path}`, base);
  url.searchParams.set('serviceConnectionId', request.serviceConnectionId);
  url.searchParams.set('api-version', OIDC_TOKEN_API_VERSION);
  assertSecure(url, 'the collection URI');
  const what = `the job's OIDC token for service connection '${request.serviceConnectionId}'`;
  const answer = await call(
    url,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${request.accessToken}`, 'content-type': 'application/json', accept: 'application/json' },
      body: '{}',
    },
    options,
    what,
  );
  if (answer.status !== 200) throw refusal(answer, url, 'POST', `Azure DevOps refused ${what}`);
  return stringField(answer, 'oidcToken', url, 'POST', what);
}

/** A certificate and its private key, as an AzureRM connection's `servicePrincipalCertificate` holds them (PEM). */
export interface ServicePrincipalCertificate {
  certificate: X509Certificate;
  key: KeyObject;
}

/**
 * Reads the certificate and the private key out of one PEM text. Throws a plain Error saying what is missing (the
 * caller names the connection); the key never appears in a message.
 */
export function readCertificatePem(pem: string): ServicePrincipalCertificate {
  const certificateBlock = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  const keyBlock = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.exec(
    pem,
  )?.[0];
  if (!certificateBlock) throw new Error('holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  if (!keyBlock) throw new Error('holds no PEM private key beside the certificate');
  let certificate: X509Certificate;
  let key: KeyObject;
  try {
    certificate = new X509Certificate(certificateBlock);
  } catch {
    throw new Error('holds a certificate that cannot be read');
  }
  try {
    key = createPrivateKey(keyBlock);
  } catch {
    throw new Error('holds a private key that cannot be read (an encrypted key is not supported: export it without a password)');
  }
  if (key.asymmetricKeyType !== 'rsa')
    throw new Error(
      `holds a ${key.asymmetricKeyType ?? 'non-RSA'} key: Entra ID takes RS256 assertions, so the certificate must have an RSA key`,
    );
  if (!certificate.checkPrivateKey(key)) throw new Error('holds a private key that does not belong to its certificate');
  return { certificate, key };
}

/**
 * A client assertion signed with the service principal's certificate (Microsoft identity platform, "certificate
 * credentials"): header `alg` RS256 and `x5t` (base64url SHA-1 thumbprint), claims `aud` = the token endpoint,
 * `iss` = `sub` = the client id, a fresh `jti`, `nbf`/`iat` now and `exp` {@link ASSERTION_LIFETIME_SECONDS} later.
 */
export function signCertificateAssertion(
  certificate: ServicePrincipalCertificate,
  clientId: string,
  tokenUrl: string,
  nowMs = Date.now(),
): string {
  const thumbprint = createHash('sha1').update(certificate.certificate.raw).digest('base64url');
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', x5t: thumbprint })).toString('base64url');
  const now = Math.floor(nowMs / 1000);
  const claims = {
    aud: tokenUrl,
    iss: clientId,
    sub: clientId,
    jti: randomUUID(),
    nbf: now,
    iat: now,
    exp: now + ASSERTION_LIFETIME_SECONDS,
  };
  const unsigned = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(unsigned), certificate.key).toString('base64url');
  return `${unsigned}.${signature}`;
}

/**
 * `source` called at most once with success: later calls share the first token (one OIDC request, one Entra request
 * per identity in a run, however many registries it signs in to). A failure is not kept, so a retry asks again.
 */
export function onceSucceeded<T, A extends unknown[]>(source: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  let kept: Promise<T> | undefined;
  return (...args: A) => {
    kept ??= source(...args).catch((error: unknown) => {
      kept = undefined;
      throw error;
    });
    return kept;
  };
}
