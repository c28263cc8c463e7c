import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { ACR_AUDIENCE, decodeJwt, verifyJwt } from './azure-identity';
import { startRegistry, type TestRegistry } from './registries';
import type { TestUser } from './token-issuer';
import { listenOnLoopback, readBody } from './loopback';

/**
 * An Azure-Container-Registry-like registry on one loopback origin, as ACR serves its login server: a real distribution
 * registry (`auth: token`, test/support/registries.ts) behind a front that answers ACR's token endpoints itself
 * (Azure/acr docs/AAD-OAuth.md) and proxies everything else to the registry:
 * - `POST /oauth2/exchange` (`grant_type=access_token`, `service`, `tenant`, `access_token`): an Entra access token
 *   (signature, `aud` https://containerregistry.azure.net, `tid`, lifetime checked) for an ACR refresh token, when its
 *   `oid` has a role here;
 * - `POST /oauth2/token` (`grant_type=refresh_token`, `service`, `scope`…, `refresh_token`) for an access token;
 * - `GET /oauth2/token` with Basic: the null-GUID user and a refresh token (what the engine sends), a service
 *   principal's id and secret, or the admin user.
 * Access tokens come from the registry's own issuer (token-issuer.ts), so the registry accepts exactly the grants of
 * each identity. As on ACR, listing a repository's tags needs `metadata_read` (distribution itself wants `pull`). Every request is counted by kind. Optionally the front sends `Docker-Content-Digest` as bare hex, as
 * some registries do.
 */

export const NULL_GUID_USER = '00000000-0000-0000-0000-000000000000';

const TAGS_LIST_PATH = /^\/v2\/(.+)\/tags\/list$/;

/** Whether the bearer token in `authorization` (issued by this registry's issuer) grants `action` on `repository`. */
function tokenAllows(authorization: string | undefined, repository: string, action: string): boolean {
  const token = /^bearer (.+)$/i.exec(authorization ?? '')?.[1];
  const access: unknown = token ? decodeJwt(token)?.claims?.access : undefined;
  if (!Array.isArray(access)) return false;
  return (access as Array<{ type?: string; name?: string; actions?: string[] }>).some(
    (a) => a.type === 'repository' && a.name === repository && (a.actions ?? []).includes(action),
  );
}

/** One identity with a role on the registry, and the ways it may sign in. */
export interface AcrIdentity {
  name: string;
  /** Repository pattern → actions, as token-issuer.ts reads them. */
  grants: Record<string, string[]>;
  /** Entra object id (a managed identity's or a service principal's): exchanges with its token. */
  objectId?: string;
  /** A service principal's id and secret, taken with Basic at the realm. */
  servicePrincipal?: { clientId: string; secret: string };
  /** A user name and password (the admin user, a token with a password). */
  password?: string;
}

export type BareHexMode = 'off' | 'reads' | 'all';

export interface AcrRegistryOptions {
  tenant: string;
  entraPublicKey: crypto.KeyObject;
  identities: AcrIdentity[];
}

export interface AcrRequest {
  kind: 'exchange' | 'token' | 'registry';
  method: string;
  path: string;
  status: number;
  /** The identity the request was made as (token endpoints). */
  identity?: string;
  grantType?: string;
  scopes?: string[];
}

export interface AcrCounts {
  exchange: number;
  token: number;
  registry: number;
}

export interface AcrRegistry {
  /** `127.0.0.1:PORT`: the login server. */
  host: string;
  url: string;
  /** The registry behind the front (its storage, its issuer). */
  backend: TestRegistry;
  /** The admin user, for seeding and checking through the front. */
  admin: { username: string; password: string };
  /** Seeding endpoint for test/support/images.ts: the front's URL with the admin user. */
  seed: { url: string; users: TestUser[] };
  requests: AcrRequest[];
  counts(): AcrCounts;
  reset(): void;
  /** Send `Docker-Content-Digest` as bare hex on manifest reads ('reads') or on every response that has one ('all'). */
  setBareHexDigest(mode: BareHexMode): void;
  /** Every refresh token and access token handed out, for leak scans. */
  tokens(): string[];
  stop(): Promise<void>;
}

function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  if (!header || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** ACR's error envelope. */
function acrError(res: http.ServerResponse, status: number, code: string, message: string): void {
  const text = JSON.stringify({ errors: [{ code, message }] });
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);
const MANIFEST_PATH = /^\/v2\/.+\/manifests\/[^/]+$/;

export async function startAcrRegistry(options: AcrRegistryOptions): Promise<AcrRegistry> {
  const internal = new Map(options.identities.map((identity) => [identity.name, crypto.randomBytes(18).toString('base64url')]));
  const admin = options.identities.find((i) => i.password !== undefined && !i.objectId && !i.servicePrincipal);
  if (!admin) throw new Error('an ACR-like registry needs an identity with a password (the admin user) to seed through');
  const refreshTokens = new Map<string, AcrIdentity>();
  const handedOut: string[] = [];
  let requests: AcrRequest[] = [];
  let bareHex: BareHexMode = 'off';
  let backend: TestRegistry | undefined;

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      if (!res.headersSent) acrError(res, 500, 'UNKNOWN', error.message);
      else res.destroy();
    });
  });
  const host = `127.0.0.1:${await listenOnLoopback(server)}`;
  const url = `http://${host}`;
  try {
    backend = await startRegistry('token', {
      users: options.identities.map((identity) => ({
        username: identity.name,
        password: internal.get(identity.name)!,
        grants: identity.grants,
      })),
      tokenRealm: `${url}/oauth2/token`,
    });
  } catch (error) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw error;
  }
  const registry = backend;
  const service = registry.service!;

  /** An access token from the registry's issuer for `identity` (the issuer applies its grants to the scopes). */
  async function issue(identity: AcrIdentity | undefined, scopes: string[]): Promise<{ status: number; body: Record<string, unknown> }> {
    const issuerUrl = new URL(registry.tokenIssuer!.realm);
    issuerUrl.searchParams.set('service', service);
    for (const scope of scopes) issuerUrl.searchParams.append('scope', scope);
    const headers: Record<string, string> = {};
    if (identity) headers.authorization = `Basic ${Buffer.from(`${identity.name}:${internal.get(identity.name)}`).toString('base64')}`;
    const response = await fetch(issuerUrl, { headers });
    const body = (await response.json()) as Record<string, unknown>;
    if (typeof body.token === 'string') handedOut.push(body.token);
    return { status: response.status, body };
  }

  function identityFromBasic(basic: { username: string; password: string }): AcrIdentity | undefined {
    if (basic.username === NULL_GUID_USER) return refreshTokens.get(basic.password);
    return options.identities.find(
      (i) =>
        (i.servicePrincipal && i.servicePrincipal.clientId === basic.username && i.servicePrincipal.secret === basic.password) ||
        (i.password !== undefined && i.name === basic.username && i.password === basic.password),
    );
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const target = new URL(req.url ?? '/', url);
    const method = req.method ?? 'GET';
    if (target.pathname === '/oauth2/exchange') {
      const entry: AcrRequest = { kind: 'exchange', method, path: target.pathname, status: 0, grantType: 'access_token' };
      requests.push(entry);
      const reply = (status: number, code: string, message: string) => {
        entry.status = status;
        acrError(res, status, code, message);
      };
      const form = new URLSearchParams(await readBody(req));
      if (method !== 'POST') return reply(405, 'UNSUPPORTED', 'POST only');
      if (form.get('grant_type') !== 'access_token')
        return reply(400, 'UNSUPPORTED', `grant_type '${form.get('grant_type')}' is not supported`);
      if (form.get('service') !== service) return reply(400, 'UNSUPPORTED', `service '${form.get('service')}' is not this registry`);
      const token = form.get('access_token') ?? '';
      const verified = verifyJwt(token, options.entraPublicKey);
      if (!verified) return reply(401, 'UNAUTHORIZED', 'the access token is not signed by Entra ID');
      const { claims } = verified;
      if (claims.aud !== ACR_AUDIENCE)
        return reply(401, 'UNAUTHORIZED', `the access token's audience '${String(claims.aud)}' is not ${ACR_AUDIENCE}`);
      if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now())
        return reply(401, 'UNAUTHORIZED', 'the access token has expired');
      if (claims.tid !== options.tenant || (form.get('tenant') && form.get('tenant') !== claims.tid)) {
        return reply(401, 'UNAUTHORIZED', `the access token is from tenant '${String(claims.tid)}', not this registry's`);
      }
      const identity = options.identities.find((i) => i.objectId && i.objectId === claims.oid);
      if (!identity) return reply(401, 'UNAUTHORIZED', `identity '${String(claims.oid)}' has no role on this registry`);
      const refreshToken = `acr-rt-${crypto.randomBytes(24).toString('base64url')}`;
      refreshTokens.set(refreshToken, identity);
      handedOut.push(refreshToken);
      entry.identity = identity.name;
      entry.status = 200;
      return sendJson(res, 200, { refresh_token: refreshToken });
    }
    if (target.pathname === '/oauth2/token') {
      const entry: AcrRequest = { kind: 'token', method, path: target.pathname, status: 0 };
      requests.push(entry);
      const reply = (status: number, code: string, message: string) => {
        entry.status = status;
        acrError(res, status, code, message);
      };
      let identity: AcrIdentity | undefined;
      let scopes: string[];
      let requestService: string | null;
      if (method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        entry.grantType = form.get('grant_type') ?? '';
        scopes = form
          .getAll('scope')
          .flatMap((s) => s.split(' '))
          .filter(Boolean);
        requestService = form.get('service');
        // ACR answers 400 to a password grant (containerd's docker authorizer notes it): clients fall back to GET.
        if (entry.grantType !== 'refresh_token') return reply(400, 'UNSUPPORTED', `grant_type '${entry.grantType}' is not supported`);
        identity = refreshTokens.get(form.get('refresh_token') ?? '');
        if (!identity) return reply(401, 'UNAUTHORIZED', 'the refresh token is not valid');
      } else if (method === 'GET') {
        scopes = target.searchParams
          .getAll('scope')
          .flatMap((s) => s.split(' '))
          .filter(Boolean);
        requestService = target.searchParams.get('service');
        const basic = parseBasic(req.headers.authorization);
        entry.grantType = basic ? (basic.username === NULL_GUID_USER ? 'refresh_token (basic)' : 'basic') : 'anonymous';
        if (basic) {
          identity = identityFromBasic(basic);
          if (!identity) return reply(401, 'UNAUTHORIZED', 'authentication required');
        }
      } else {
        return reply(405, 'UNSUPPORTED', 'GET or POST');
      }
      if (requestService && requestService !== service)
        return reply(400, 'UNSUPPORTED', `service '${requestService}' is not this registry`);
      entry.identity = identity?.name;
      entry.scopes = scopes;
      const issued = await issue(identity, scopes);
      entry.status = issued.status;
      if (issued.status !== 200) return sendJson(res, issued.status, issued.body);
      // ACR answers POST with `access_token` only, GET as docker expects (`access_token`, and `token` too).
      return sendJson(
        res,
        200,
        method === 'POST' ? { access_token: issued.body.token } : { token: issued.body.token, access_token: issued.body.token },
      );
    }
    // Everything else is the registry's: proxied as it comes, the Host kept (distribution builds Locations from it).
    const entry: AcrRequest = { kind: 'registry', method, path: `${target.pathname}${target.search}`, status: 0 };
    requests.push(entry);
    const listed = TAGS_LIST_PATH.exec(target.pathname);
    if (listed && !tokenAllows(req.headers.authorization, listed[1], 'metadata_read')) {
      // ACR lists tags for `metadata_read` (a scope map's metadata/read), not `pull` as distribution does; its refusal
      // names the action (Azure/acr#676, goharbor/harbor#16947). The challenge names the scope, as distribution's do.
      entry.status = 401;
      const presented = /^bearer /i.test(req.headers.authorization ?? '');
      res.writeHead(401, {
        'content-type': 'application/json; charset=utf-8',
        'www-authenticate': `Bearer realm="${url}/oauth2/token",service="${service}",scope="repository:${listed[1]}:metadata_read"${presented ? ',error="insufficient_scope"' : ''}`,
      });
      res.end(
        JSON.stringify({
          errors: [
            {
              code: 'UNAUTHORIZED',
              message: 'authentication required, visit https://aka.ms/acr/authorization for more information.',
              detail: [{ Type: 'repository', Name: listed[1], Action: 'metadata_read' }],
            },
          ],
        }),
      );
      return;
    }
    const backendUrl = new URL(registry.url);
    const upstream = http.request(
      {
        host: backendUrl.hostname,
        port: backendUrl.port,
        method,
        path: req.url,
        headers: { ...req.headers, host: req.headers.host ?? host },
      },
      (answer) => {
        entry.status = answer.statusCode ?? 0;
        const headers: http.OutgoingHttpHeaders = {};
        for (const [key, value] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(key) && value !== undefined) headers[key] = value;
        const digest = answer.headers['docker-content-digest'];
        const rewrite =
          bareHex === 'all' || (bareHex === 'reads' && (method === 'GET' || method === 'HEAD') && MANIFEST_PATH.test(target.pathname));
        if (rewrite && typeof digest === 'string') headers['docker-content-digest'] = digest.replace(/^sha256:/, '');
        res.writeHead(answer.statusCode ?? 502, headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (error) => {
      entry.status = 502;
      if (!res.headersSent) acrError(res, 502, 'BAD_GATEWAY', error.message);
      else res.destroy();
    });
    req.pipe(upstream);
  }

  return {
    host,
    url,
    backend: registry,
    admin: { username: admin.name, password: admin.password! },
    seed: { url, users: [{ username: admin.name, password: admin.password! }] },
    get requests() {
      return requests;
    },
    counts() {
      const of = (kind: AcrRequest['kind']) => requests.filter((r) => r.kind === kind).length;
      return { exchange: of('exchange'), token: of('token'), registry: of('registry') };
    },
    reset() {
      requests = [];
    },
    setBareHexDigest(mode: BareHexMode) {
      bareHex = mode;
    },
    tokens: () => [...handedOut, ...registry.secrets()],
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await registry.stop();
    },
  };
}
