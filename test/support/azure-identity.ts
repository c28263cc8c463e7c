import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { selfSignedCertificate } from './tls';
import { listenOnLoopback, readBody } from './loopback';

/**
 * Contract servers for the three Azure identity endpoints a task signs in through, each on its own loopback port,
 * their routes and fields taken from the REST docs:
 * - Azure DevOps' job OIDC route (distributedtask `oidctoken`: `POST {collection}{projectId}/_apis/distributedtask/hubs/
 *   {hub}/plans/{planId}/jobs/{jobId}/oidctoken?serviceConnectionId=…&api-version=7.1-preview.1`, Bearer job token,
 *   answer `{"oidcToken": …}`, the token's `iss` https://vstoken.dev.azure.com/{org id}, `sub` sc://{org}/{project}/
 *   {connection}, `aud` api://AzureADTokenExchange);
 * - Entra ID's v2.0 token endpoint (`POST /{tenant}/oauth2/v2.0/token`, client credentials with a secret or a
 *   client assertion: a federated token whose issuer, subject, audience and signature must match a federated credential,
 *   or a certificate-signed JWT whose `x5t`, `aud`, `iss`/`sub`, lifetime and signature are checked), refusing with the
 *   AADSTS codes Entra uses;
 * - the instance metadata service (`GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…
 *   [&client_id=…]`, header `Metadata: true`).
 * Access tokens are RS256 JWTs signed by the Entra key with `aud` (the resource), `tid`, `oid`, `appid`: what an ACR
 * exchange checks (acr-registry.ts).
 */

export const FEDERATION_AUDIENCE = 'api://AzureADTokenExchange';
export const ACR_AUDIENCE = 'https://containerregistry.azure.net';

/** A service principal (app registration) in a tenant. */
export interface EntraApp {
  clientId: string;
  objectId: string;
  tenant: string;
  secret?: string;
  /** PEM certificates whose keys may sign client assertions. */
  certificates?: string[];
  /** Federated credentials: the OIDC issuer and subject allowed to stand in for the app. */
  federated?: { issuer: string; subject: string }[];
}

/** A managed identity on the "VM" the IMDS server stands for; without `clientId` it is the system-assigned one. */
export interface ManagedIdentity {
  clientId?: string;
  objectId: string;
  tenant: string;
}

export interface AzureIdentityOptions {
  tenants: string[];
  apps: EntraApp[];
  managedIdentities: ManagedIdentity[];
  /** Azure DevOps: the organization (and its id, which names the OIDC issuer) and project the OIDC route serves. */
  organization: string;
  organizationId: string;
  project: string;
  projectId: string;
  /** The job's values the route must carry, and its access token. */
  hub: string;
  planId: string;
  jobId: string;
  accessToken: string;
  /** Service connection id → name (the OIDC token's subject is sc://org/project/name). */
  connections: Record<string, string>;
  /**
   * Serve Azure DevOps and Entra ID over HTTPS with this certificate (PEM text), named `host` in their URLs (a name
   * only a test proxy resolves, so the calls must go through it). IMDS stays plain HTTP on loopback, as IMDS is.
   */
  tls?: { cert: string; key: string; host: string };
}

export interface RequestEntry {
  service: 'ado' | 'entra' | 'imds';
  method: string;
  path: string;
  status: number;
  /** What was refused, when something was (the AADSTS code or the reason). */
  refusal?: string;
}

export interface AzureIdentity {
  /** `System.CollectionUri`: `http://127.0.0.1:PORT/<org>/`. */
  collectionUri: string;
  /** The OIDC issuer of this "organization". */
  oidcIssuer: string;
  /** The Entra authority: `http://127.0.0.1:PORT/`. */
  authority: string;
  /** The IMDS origin for OUTERLOOP_TEST_IMDS_ENDPOINT. */
  imdsOrigin: string;
  /** The public key that signs Entra access tokens (the ACR-like registry verifies them with it). */
  entraPublicKey: crypto.KeyObject;
  /** The subject of a connection's OIDC token. */
  subjectOf(connectionName: string): string;
  requests: RequestEntry[];
  /** Requests per service since the last reset. */
  counts(): { ado: number; entra: number; imds: number };
  reset(): void;
  /** The next `n` OIDC tokens are issued expired (Entra then answers AADSTS700024). */
  expireNextOidcTokens(n: number): void;
  /** Every token handed out (OIDC tokens, access tokens), for leak scans. */
  tokens(): string[];
  stop(): Promise<void>;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export function signJwt(claims: Record<string, unknown>, key: crypto.KeyObject, header: Record<string, unknown> = {}): string {
  const unsigned = `${b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', ...header }))}.${b64url(JSON.stringify(claims))}`;
  return `${unsigned}.${crypto.sign('sha256', Buffer.from(unsigned), key).toString('base64url')}`;
}

/** The header and claims of a JWT whose RS256 signature `key` verifies; undefined when it does not. */
export function verifyJwt(
  token: string,
  key: crypto.KeyObject | crypto.X509Certificate,
): { header: Record<string, unknown>; claims: Record<string, unknown> } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const publicKey = key instanceof crypto.X509Certificate ? key.publicKey : key;
  if (!crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'))) return undefined;
  return decodeJwt(token);
}

export function decodeJwt(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')),
      claims: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')),
    };
  } catch {
    return undefined;
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function listen(handler: http.RequestListener, tls?: AzureIdentityOptions['tls']): Promise<{ server: http.Server; origin: string }> {
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  const port = await listenOnLoopback(server);
  return { server, origin: tls ? `https://${tls.host}:${port}` : `http://127.0.0.1:${port}` };
}

/** Entra's error answer: `{"error","error_description":"AADSTS…: …\r\nTrace ID: …","error_codes":[…],…}`. */
function aadError(res: http.ServerResponse, status: number, error: string, code: number, text: string): string {
  const traceId = crypto.randomUUID();
  send(res, status, {
    error,
    error_description: `AADSTS${code}: ${text}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${crypto.randomUUID()}\r\nTimestamp: ${new Date().toISOString()}`,
    error_codes: [code],
    timestamp: new Date().toISOString(),
    trace_id: traceId,
    correlation_id: crypto.randomUUID(),
  });
  return `AADSTS${code}`;
}

/** SHA-1 thumbprint of a PEM certificate, base64url (a JWT's `x5t`). */
export function x5tOf(pem: string): string {
  return crypto.createHash('sha1').update(new crypto.X509Certificate(pem).raw).digest('base64url');
}

/** A self-signed certificate and its RSA key made by openssl, as one PEM (what an AzureRM connection stores). */
export async function makeServicePrincipalCertificate(subject: string): Promise<{ pem: string; certificate: string; key: string }> {
  const { certificate, key } = await selfSignedCertificate(subject);
  return { pem: `${certificate}${key}`, certificate, key };
}

/** The issuer of an Azure DevOps organization's OIDC tokens. */
export function oidcIssuerOf(organizationId: string): string {
  return `https://vstoken.dev.azure.com/${organizationId}`;
}

/** The subject of a service connection's OIDC token: `sc://<org>/<project>/<connection name>`. */
export function oidcSubjectOf(organization: string, project: string, connectionName: string): string {
  return `sc://${organization}/${project}/${connectionName}`;
}

/** Seconds of clock skew Entra tolerates on an assertion's `nbf`. */
const SKEW_SECONDS = 300;

export async function startAzureIdentity(options: AzureIdentityOptions): Promise<AzureIdentity> {
  const adoKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const entraKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const oidcIssuer = oidcIssuerOf(options.organizationId);
  let requests: RequestEntry[] = [];
  const issued: string[] = [];
  let expireBudget = 0;
  const now = () => Math.floor(Date.now() / 1000);
  const subjectOf = (name: string) => oidcSubjectOf(options.organization, options.project, name);

  const accessToken = (tenant: string, objectId: string, appId: string, resource: string) => {
    const t = now();
    const token = signJwt(
      {
        aud: resource,
        iss: `https://sts.windows.net/${tenant}/`,
        iat: t,
        nbf: t,
        exp: t + 3600,
        tid: tenant,
        oid: objectId,
        sub: objectId,
        appid: appId,
        ver: '1.0',
      },
      entraKey.privateKey,
      { kid: 'outerloop-entra' },
    );
    issued.push(token);
    return token;
  };

  const record = (service: RequestEntry['service'], req: http.IncomingMessage): RequestEntry => {
    const entry: RequestEntry = { service, method: req.method ?? 'GET', path: req.url ?? '/', status: 0 };
    requests.push(entry);
    return entry;
  };

  // Azure DevOps: the job's OIDC token.
  const ado = await listen((req, res) => {
    const entry = record('ado', req);
    const reply = (status: number, body: unknown, refusal?: string) => {
      entry.status = status;
      entry.refusal = refusal;
      send(res, status, body);
    };
    void (async () => {
      await readBody(req);
      const url = new URL(req.url ?? '/', 'http://ado');
      const route = `/${options.organization}/${options.projectId}/_apis/distributedtask/hubs/${options.hub}/plans/${options.planId}/jobs/${options.jobId}/oidctoken`;
      if (url.pathname !== route) return reply(404, { message: `no route ${url.pathname}`, typeKey: 'RouteNotFound' }, 'route');
      if (req.method !== 'POST') return reply(405, { message: 'POST only' }, 'method');
      if (req.headers.authorization !== `Bearer ${options.accessToken}`)
        return reply(401, { message: 'TF400813: The user is not authorized to access this resource.' }, 'access token');
      if (url.searchParams.get('api-version') !== '7.1-preview.1')
        return reply(400, { message: `api-version '${url.searchParams.get('api-version')}' is not supported` }, 'api-version');
      const connectionId = url.searchParams.get('serviceConnectionId') ?? '';
      const name = options.connections[connectionId];
      if (!name)
        return reply(
          400,
          { message: `Service connection '${connectionId}' was not found or the pipeline is not authorized to use it.` },
          'connection',
        );
      const t = now();
      const expired = expireBudget > 0;
      if (expired) expireBudget--;
      const oidcToken = signJwt(
        {
          jti: crypto.randomUUID(),
          sub: subjectOf(name),
          aud: FEDERATION_AUDIENCE,
          iss: oidcIssuer,
          nbf: expired ? t - 1200 : t,
          iat: expired ? t - 1200 : t,
          exp: expired ? t - 600 : t + 600,
        },
        adoKey.privateKey,
      );
      issued.push(oidcToken);
      reply(200, { oidcToken });
    })().catch(() => reply(500, { message: 'internal' }));
  }, options.tls);

  // Entra ID: client credentials at the v2.0 endpoint.
  const entra = await listen((req, res) => {
    const entry = record('entra', req);
    const refuse = (status: number, error: string, code: number, text: string) => {
      entry.status = status;
      entry.refusal = aadError(res, status, error, code, text);
    };
    void (async () => {
      const body = await readBody(req);
      const match = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(new URL(req.url ?? '/', 'http://entra').pathname);
      if (!match || req.method !== 'POST')
        return refuse(404, 'invalid_request', 900561, 'The endpoint only accepts POST requests at /{tenant}/oauth2/v2.0/token.');
      const tenant = decodeURIComponent(match[1]);
      const tokenUrl = `${entraOrigin}/${match[1]}/oauth2/v2.0/token`;
      const form = new URLSearchParams(body);
      if (!options.tenants.includes(tenant)) {
        return refuse(
          400,
          'invalid_request',
          90002,
          `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        );
      }
      if (form.get('grant_type') !== 'client_credentials')
        return refuse(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
      const clientId = form.get('client_id') ?? '';
      const app = options.apps.find((a) => a.clientId === clientId && a.tenant === tenant);
      if (!app) {
        return refuse(
          400,
          'unauthorized_client',
          700016,
          `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`,
        );
      }
      const scope = form.get('scope') ?? '';
      if (!scope.endsWith('/.default'))
        return refuse(
          400,
          'invalid_scope',
          1002012,
          `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.`,
        );
      const resource = scope.slice(0, -'/.default'.length);
      const assertion = form.get('client_assertion');
      if (assertion) {
        if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
          return refuse(
            400,
            'invalid_request',
            50027,
            'client_assertion_type is not urn:ietf:params:oauth:client-assertion-type:jwt-bearer.',
          );
        }
        const decoded = decodeJwt(assertion);
        if (!decoded) return refuse(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
        const t = now();
        if (typeof decoded.header.x5t === 'string') {
          // A certificate credential: the thumbprint names one of the app's certificates, which must verify the signature.
          const certificate = (app.certificates ?? []).find((pem) => x5tOf(pem) === decoded.header.x5t);
          if (!certificate)
            return refuse(
              401,
              'invalid_client',
              700027,
              `Client assertion failed signature validation. The key was not found: thumbprint '${decoded.header.x5t}'.`,
            );
          if (!verifyJwt(assertion, new crypto.X509Certificate(certificate)))
            return refuse(401, 'invalid_client', 700027, 'Client assertion contains an invalid signature.');
          const { claims } = decoded;
          if (claims.aud !== tokenUrl)
            return refuse(
              401,
              'invalid_client',
              700212,
              `The audience of the client assertion '${String(claims.aud)}' does not match the token endpoint.`,
            );
          if (claims.iss !== clientId || claims.sub !== clientId)
            return refuse(
              401,
              'invalid_client',
              700023,
              'Client assertion audience claim does not match Realm issuer, or iss/sub is not the client id.',
            );
          if (typeof claims.exp !== 'number' || claims.exp < t || (typeof claims.nbf === 'number' && claims.nbf > t + SKEW_SECONDS)) {
            return refuse(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
          }
        } else {
          // A federated credential: issuer, subject and audience must match one the app trusts, signed by that issuer.
          const { claims } = decoded;
          const federated = (app.federated ?? []).find((f) => f.issuer === claims.iss && f.subject === claims.sub);
          if (!federated || claims.aud !== FEDERATION_AUDIENCE) {
            return refuse(
              400,
              'invalid_client',
              70021,
              `No matching federated identity record found for presented assertion. Assertion Issuer: '${String(claims.iss)}'. Assertion Subject: '${String(claims.sub)}'. Assertion Audience: '${String(claims.aud)}'.`,
            );
          }
          if (!verifyJwt(assertion, adoKey.publicKey))
            return refuse(401, 'invalid_client', 700027, 'Client assertion contains an invalid signature.');
          if (typeof claims.exp !== 'number' || claims.exp < t || (typeof claims.nbf === 'number' && claims.nbf > t + SKEW_SECONDS)) {
            return refuse(400, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
          }
        }
      } else if (form.get('client_secret') !== null) {
        if (!app.secret || form.get('client_secret') !== app.secret)
          return refuse(401, 'invalid_client', 7000215, 'Invalid client secret provided.');
      } else {
        return refuse(
          401,
          'invalid_client',
          7000218,
          "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        );
      }
      entry.status = 200;
      send(res, 200, {
        token_type: 'Bearer',
        expires_in: 3599,
        ext_expires_in: 3599,
        access_token: accessToken(tenant, app.objectId, app.clientId, resource),
      });
    })().catch(() => refuse(500, 'server_error', 50000, 'internal error'));
  }, options.tls);
  const entraOrigin = entra.origin;

  // The instance metadata service.
  const imds = await listen((req, res) => {
    const entry = record('imds', req);
    const reply = (status: number, body: unknown, refusal?: string) => {
      entry.status = status;
      entry.refusal = refusal;
      send(res, status, body);
    };
    const url = new URL(req.url ?? '/', 'http://imds');
    if (url.pathname !== '/metadata/identity/oauth2/token') return reply(404, { error: 'not_found' }, 'route');
    if (req.headers.metadata !== 'true')
      return reply(400, { error: 'invalid_request', error_description: 'Required metadata header not specified' }, 'metadata header');
    if (url.searchParams.get('api-version') !== '2018-02-01')
      return reply(400, { error: 'invalid_request', error_description: 'Invalid or missing api-version' }, 'api-version');
    const resource = url.searchParams.get('resource');
    if (!resource)
      return reply(400, { error: 'invalid_request', error_description: 'Required audience parameter not specified' }, 'resource');
    const clientId = url.searchParams.get('client_id') ?? undefined;
    const identity = options.managedIdentities.find((m) => m.clientId === clientId);
    if (!identity) return reply(400, { error: 'invalid_request', error_description: 'Identity not found' }, 'identity');
    const t = now();
    const token = accessToken(identity.tenant, identity.objectId, identity.clientId ?? identity.objectId, resource.replace(/\/$/, ''));
    reply(200, {
      access_token: token,
      client_id: identity.clientId ?? identity.objectId,
      expires_in: '86399',
      expires_on: String(t + 86399),
      ext_expires_in: '86399',
      not_before: String(t),
      resource,
      token_type: 'Bearer',
    });
  });

  return {
    collectionUri: `${ado.origin}/${options.organization}/`,
    oidcIssuer,
    authority: `${entraOrigin}/`,
    imdsOrigin: imds.origin,
    entraPublicKey: entraKey.publicKey,
    subjectOf,
    get requests() {
      return requests;
    },
    counts() {
      const of = (service: RequestEntry['service']) => requests.filter((r) => r.service === service).length;
      return { ado: of('ado'), entra: of('entra'), imds: of('imds') };
    },
    reset() {
      requests = [];
    },
    expireNextOidcTokens(n: number) {
      expireBudget = n;
    },
    tokens: () => [...issued],
    async stop() {
      for (const { server } of [ado, entra, imds]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}
