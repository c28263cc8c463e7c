import { taskLib } from './agent';
import {
  entraTokenUrl,
  onceSucceeded,
  readCertificatePem,
  requestEntraToken,
  requestManagedIdentityToken,
  requestPipelineOidcToken,
  signCertificateAssertion,
  IMDS_TOKEN_URL,
  type ServicePrincipalCertificate,
} from '../auth/entra';
import { isLoopbackHost } from '../reference/reference';
import type { EntraCredentials, EntraTokenRequest, EntraTokenSource } from '../registry/auth';
import { RegistryError, withContext } from '../registry/errors';
import { InputError } from './inputs';
import { registerSecret } from './secrets';
import { readAccessToken } from './vss';

/*
 * Entra ID identities of Azure DevOps service connections, as EntraCredentials the registry layer exchanges for ACR
 * tokens: workload identity federation (the job's OIDC token as client assertion), a service principal's certificate
 * (a signed assertion) and the agent machine's managed identity (IMDS). Every token, assertion and key is masked the
 * moment it exists, and none is written anywhere (Microsoft's azure-arm-rest writes the certificate to spnCert.pem and
 * docker-common prints the engine credential as a secret variable; neither happens here).
 */

/** Test seam: `true` admits loopback registries as ACR login servers (documented in the README, never for production). */
export const ACR_ON_LOOPBACK_VARIABLE = 'OUTERLOOP_TEST_ACR_ON_LOOPBACK';
/** Test seam: a loopback origin (`http://127.0.0.1:40342`) that answers in place of the instance metadata service. */
export const IMDS_ENDPOINT_VARIABLE = 'OUTERLOOP_TEST_IMDS_ENDPOINT';

/** True when the README's test seam admits loopback registries as ACR login servers. */
export function acrOnLoopback(env: NodeJS.ProcessEnv = process.env): boolean {
  return (env[ACR_ON_LOOPBACK_VARIABLE] ?? '').trim().toLowerCase() === 'true';
}

/** The IMDS token endpoint: the real one, or the test seam's loopback origin. */
export function imdsTokenUrl(env: NodeJS.ProcessEnv = process.env): string {
  const moved = env[IMDS_ENDPOINT_VARIABLE]?.trim();
  if (!moved) return IMDS_TOKEN_URL;
  let url: URL;
  try {
    url = new URL(moved);
  } catch {
    throw new Error(`${IMDS_ENDPOINT_VARIABLE} is '${moved}', which is not a URL: unset it (it is a test seam)`);
  }
  if (url.protocol !== 'http:' || !isLoopbackHost(url.host)) {
    throw new Error(`${IMDS_ENDPOINT_VARIABLE} is '${moved}': the test seam takes only an http:// loopback origin; unset it`);
  }
  return new URL('/metadata/identity/oauth2/token', url.origin).toString();
}

/** Which connection and input an identity comes from, for every message about it. */
export interface IdentitySource {
  /** The task input that names the connection (`containerRegistry`, `azureSubscriptionEndpoint`). */
  input: string;
  /** The connection's id as the agent names it. */
  connectionId: string;
  tenant?: string;
}

/**
 * A refusal or failure of a sign-in call as one line naming the input and connection at fault. Not retried again:
 * the call itself already retried what was temporary.
 */
function atFault(source: IdentitySource, error: unknown): Error {
  const context = `input '${source.input}' (service connection '${source.connectionId}')`;
  if (!(error instanceof RegistryError)) return withContext(error, context);
  return new RegistryError({
    status: error.status,
    code: error.code,
    message: error.detail,
    url: error.url,
    method: error.method,
    errors: error.errors,
    context: error.context ? `${context}: ${error.context}` : context,
    temporary: false,
    cause: error.cause,
  });
}

/** A token source that masks what it gets, names the input on failure, and asks once per run. */
function source(from: IdentitySource, get: (request: EntraTokenRequest) => Promise<string>): EntraTokenSource {
  return onceSucceeded(async (request: EntraTokenRequest) => {
    try {
      const token = await get(request);
      registerSecret(token);
      return token;
    } catch (error) {
      if (request.signal?.aborted) throw error;
      throw atFault(from, error);
    }
  });
}

/** The job's OIDC route values; missing ones fail now, naming the input, rather than at the first registry call. */
function readJobForOidc(from: IdentitySource) {
  const names = ['System.CollectionUri', 'System.TeamProjectId', 'System.HostType', 'System.PlanId', 'System.JobId'] as const;
  const values = names.map((name) => taskLib().getVariable(name) ?? '');
  const missing = names.filter((_, i) => !values[i]);
  if (missing.length > 0) {
    throw new InputError(
      from.input,
      `names service connection '${from.connectionId}', which signs in with workload identity federation: that needs the job's ${missing.join(', ')}, which this agent did not set`,
    );
  }
  let accessToken: string | undefined;
  try {
    accessToken = readAccessToken();
  } catch (error) {
    throw new InputError(
      from.input,
      `names service connection '${from.connectionId}', which signs in with workload identity federation: ${(error as Error).message}`,
    );
  }
  if (!accessToken) {
    throw new InputError(
      from.input,
      `names service connection '${from.connectionId}', which signs in with workload identity federation: that needs the job's access token (SystemVssConnection), which this agent did not provide`,
    );
  }
  const [collectionUri, projectId, hub, planId, jobId] = values;
  return { collectionUri, projectId, hub, planId, jobId, accessToken };
}

/**
 * Workload identity federation: the job's OIDC token for the connection (Azure DevOps `oidctoken` route) is the client
 * assertion of a client-credentials request for the ACR scope at `authority`.
 */
export function workloadIdentityCredentials(
  from: IdentitySource & { clientId: string; tenant: string; authority: string },
): EntraCredentials {
  const job = readJobForOidc(from);
  return {
    kind: 'entra',
    identity: `service principal '${from.clientId}' (workload identity federation)`,
    tenant: from.tenant,
    admitLoopback: acrOnLoopback(),
    accessToken: source(from, async (request) => {
      const assertion = await requestPipelineOidcToken({ ...job, serviceConnectionId: from.connectionId }, request);
      registerSecret(assertion);
      return requestEntraToken(
        { authority: from.authority, tenant: from.tenant, clientId: from.clientId, clientAssertion: assertion },
        request,
      );
    }),
  };
}

/** Masks a PEM certificate's private key, whole and line by line (a log line may hold one line of it). */
export function maskCertificate(pem: string): void {
  registerSecret(pem);
  const key = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+?-----END [A-Z ]*PRIVATE KEY-----/.exec(pem)?.[0];
  if (!key) return;
  registerSecret(key);
  for (const line of key.split(/\r?\n/)) if (line.length >= 16 && !line.startsWith('-----')) registerSecret(line.trim());
}

/**
 * A service principal with a certificate (an AzureRM connection's `servicePrincipalCertificate`, PEM with its key):
 * a client assertion signed with it (`x5t`) in a client-credentials request for the ACR scope.
 */
export function certificateCredentials(
  from: IdentitySource & { clientId: string; tenant: string; authority: string; pem: string },
): EntraCredentials {
  maskCertificate(from.pem);
  let certificate: ServicePrincipalCertificate;
  try {
    certificate = readCertificatePem(from.pem);
  } catch (error) {
    throw new InputError(
      from.input,
      `names service connection '${from.connectionId}', whose certificate (servicePrincipalCertificate) ${(error as Error).message}: edit the connection`,
    );
  }
  return {
    kind: 'entra',
    identity: `service principal '${from.clientId}' (certificate)`,
    tenant: from.tenant,
    admitLoopback: acrOnLoopback(),
    accessToken: source(from, async (request) => {
      const assertion = signCertificateAssertion(certificate, from.clientId, entraTokenUrl(from.authority, from.tenant).toString());
      registerSecret(assertion);
      return requestEntraToken(
        { authority: from.authority, tenant: from.tenant, clientId: from.clientId, clientAssertion: assertion },
        request,
      );
    }),
  };
}

/** The agent machine's managed identity (system-assigned, or the user-assigned one `clientId` names), from IMDS. */
export function managedIdentityCredentials(from: IdentitySource & { clientId?: string }): EntraCredentials {
  let endpoint: string;
  try {
    endpoint = imdsTokenUrl();
  } catch (error) {
    throw new InputError(
      from.input,
      `names service connection '${from.connectionId}', a managed identity, but ${(error as Error).message}`,
    );
  }
  return {
    kind: 'entra',
    identity: from.clientId ? `managed identity '${from.clientId}'` : "the agent machine's managed identity",
    tenant: from.tenant,
    admitLoopback: acrOnLoopback(),
    accessToken: source(from, (request) => requestManagedIdentityToken({ endpoint, clientId: from.clientId }, request)),
  };
}
