import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { listenOnLoopback, readBody } from './loopback';

/**
 * A Docker registry token issuer for tests (the "authorization server" of
 * https://distribution.github.io/distribution/spec/auth/token/ and /spec/auth/oauth/).
 *
 * Tokens are RS256 JWTs whose header carries `x5c` with the issuer certificate: distribution 2.8
 * (registry/auth/token/token.go, VerifySigningKey) accepts a token when that chain verifies against its
 * `rootcertbundle`, its `iss` is the configured issuer and its `aud` (a single string in 2.8) is the service.
 */

/** A registry user. `grants` maps a repository pattern (`*` matches any characters, `/` included) to actions. */
export interface TestUser {
  username: string;
  password: string;
  grants?: Record<string, string[]>;
}

export interface TokenIssuerOptions {
  service: string;
  issuer: string;
  /** PEM private key (RSA) and the PEM certificate the registry trusts. */
  keyPem: string;
  certPem: string;
  users: TestUser[];
  /** Lifetime in seconds of issued access tokens, also reported as `expires_in`. Default 300. */
  expiresIn?: number;
  /** Grants for requests without credentials. Default: none (an anonymous token with empty access). */
  anonymousGrants?: Record<string, string[]>;
}

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface IssuedToken {
  kind: 'access' | 'refresh';
  /** The token string exactly as handed out (leak tests grep for it). */
  token: string;
  username: string;
  grantType: 'basic' | 'password' | 'refresh_token' | 'anonymous';
  access: AccessEntry[];
  /** True when the token was issued already expired (see `expireNext`). */
  expired: boolean;
}

export interface TokenRequestEntry {
  method: string;
  grantType: IssuedToken['grantType'] | 'unsupported';
  username?: string;
  scopes: string[];
  status: number;
}

export interface TokenIssuerCounts {
  requests: number;
  accessTokens: number;
  refreshTokens: number;
  /** Requests answered with 4xx (bad credentials, bad refresh token, wrong service...). */
  denied: number;
}

export interface TokenIssuer {
  /** `127.0.0.1:PORT` */
  host: string;
  url: string;
  /** The token endpoint (`<url>/token`) to configure as the registry's realm. */
  realm: string;
  service: string;
  issuer: string;
  issued: IssuedToken[];
  requests: TokenRequestEntry[];
  counts(): TokenIssuerCounts;
  /** Access token lifetime for tokens issued from now on. */
  setExpiresIn(seconds: number): void;
  /**
   * The next `n` access tokens are issued already expired beyond the registry's 60 s leeway, so the registry
   * rejects them at once: lets a test prove that a client re-authenticates after an expired token.
   */
  expireNext(n: number): void;
  /** Every token handed out since start, `reset()` notwithstanding (access and refresh). */
  tokens(): string[];
  /** Clears `issued`, `requests` and the counters. */
  reset(): void;
  stop(): Promise<void>;
}

/** distribution 2.8 adds 60 s of leeway to `exp` (registry/auth/token/token.go, Leeway). */
const REGISTRY_LEEWAY_SECONDS = 60;

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** `repository:team/app:pull,push` → { type, name, actions }; the name may itself contain ':'. */
export function parseScope(scope: string): AccessEntry | undefined {
  const parts = scope.split(':');
  if (parts.length < 3) return undefined;
  const type = parts[0];
  const actions = parts[parts.length - 1].split(',').filter(Boolean);
  const name = parts.slice(1, -1).join(':');
  return { type, name, actions };
}

/**
 * Intersection of what was asked and what the grants allow. A grant key is a repository name pattern, or
 * `type:pattern` for other resource types (e.g. `registry:catalog`).
 */
export function grantAccess(requested: AccessEntry[], grants: Record<string, string[]>): AccessEntry[] {
  const result: AccessEntry[] = [];
  for (const want of requested) {
    const allowed = new Set<string>();
    for (const [key, actions] of Object.entries(grants)) {
      const colon = key.indexOf(':');
      const type = colon < 0 ? 'repository' : key.slice(0, colon);
      if (type !== want.type || !globToRegExp(key.slice(colon + 1)).test(want.name)) continue;
      for (const action of actions) allowed.add(action);
    }
    const actions = want.actions.filter((a) => allowed.has(a) || allowed.has('*'));
    if (actions.length > 0) result.push({ type: want.type, name: want.name, actions });
  }
  return result;
}

function parseBasic(header: string | undefined): { username: string; password: string } | undefined {
  if (!header || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function splitScopes(values: string[]): string[] {
  return values.flatMap((v) => v.split(' ')).filter(Boolean);
}

export async function startTokenIssuer(options: TokenIssuerOptions): Promise<TokenIssuer> {
  const key = crypto.createPrivateKey(options.keyPem);
  const certDer = new crypto.X509Certificate(options.certPem).raw;
  const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer.toString('base64')] }));
  let expiresIn = options.expiresIn ?? 300;
  let expireBudget = 0;
  let issued: IssuedToken[] = [];
  let requests: TokenRequestEntry[] = [];
  const everyToken: string[] = [];
  const refreshTokens = new Map<string, string>();

  function findUser(username: string, password: string): TestUser | undefined {
    const user = options.users.find((u) => u.username === username);
    if (!user) return undefined;
    const a = Buffer.from(user.password);
    const b = Buffer.from(password);
    return a.length === b.length && crypto.timingSafeEqual(a, b) ? user : undefined;
  }

  function sign(username: string, access: AccessEntry[], grantType: IssuedToken['grantType']) {
    const now = Math.floor(Date.now() / 1000);
    const expired = expireBudget > 0;
    if (expired) expireBudget--;
    const issuedAt = expired ? now - 3 * REGISTRY_LEEWAY_SECONDS : now;
    const exp = expired ? now - 2 * REGISTRY_LEEWAY_SECONDS : now + expiresIn;
    const claims = {
      iss: options.issuer,
      sub: username,
      aud: options.service,
      exp,
      nbf: issuedAt,
      iat: issuedAt,
      jti: crypto.randomBytes(12).toString('hex'),
      access,
    };
    const unsigned = `${header}.${base64url(JSON.stringify(claims))}`;
    const signature = crypto.sign('sha256', Buffer.from(unsigned), key);
    const token = `${unsigned}.${base64url(signature)}`;
    issued.push({ kind: 'access', token, username, grantType, access, expired });
    everyToken.push(token);
    return { token, issuedAt: new Date(issuedAt * 1000).toISOString() };
  }

  function newRefreshToken(username: string, grantType: IssuedToken['grantType']): string {
    const token = `rt-${crypto.randomBytes(24).toString('hex')}`;
    refreshTokens.set(token, username);
    issued.push({ kind: 'refresh', token, username, grantType, access: [], expired: false });
    everyToken.push(token);
    return token;
  }

  function send(res: http.ServerResponse, status: number, body: unknown, extra: http.OutgoingHttpHeaders = {}) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...extra });
    res.end(text);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://issuer');
    const method = req.method ?? 'GET';
    const entry: TokenRequestEntry = { method, grantType: 'unsupported', scopes: [], status: 0 };
    requests.push(entry);
    const reply = (status: number, body: unknown, extra?: http.OutgoingHttpHeaders) => {
      entry.status = status;
      send(res, status, body, extra);
    };
    if (url.pathname !== '/token') return reply(404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });

    if (method === 'GET') {
      const scopes = splitScopes(url.searchParams.getAll('scope'));
      entry.scopes = scopes;
      const service = url.searchParams.get('service');
      if (service && service !== options.service) {
        return reply(400, { errors: [{ code: 'DENIED', message: `unknown service '${service}'` }] });
      }
      const basic = parseBasic(req.headers.authorization);
      let username = '';
      let grants = options.anonymousGrants ?? {};
      entry.grantType = 'anonymous';
      if (basic) {
        entry.grantType = 'basic';
        entry.username = basic.username;
        const user = findUser(basic.username, basic.password);
        if (!user) {
          return reply(
            401,
            { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] },
            {
              'www-authenticate': 'Basic realm="outerloop-token-issuer"',
            },
          );
        }
        username = user.username;
        grants = user.grants ?? {};
      }
      const access = grantAccess(
        scopes.map(parseScope).filter((s): s is AccessEntry => !!s),
        grants,
      );
      const { token, issuedAt } = sign(username, access, entry.grantType);
      const body: Record<string, unknown> = { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt };
      if (basic && url.searchParams.get('offline_token') === 'true') {
        body.refresh_token = newRefreshToken(username, 'basic');
      }
      return reply(200, body);
    }

    if (method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      const grantType = form.get('grant_type');
      const scopes = splitScopes(form.getAll('scope'));
      entry.scopes = scopes;
      const service = form.get('service');
      if (service && service !== options.service) {
        return reply(400, { error: 'invalid_request', error_description: `unknown service '${service}'` });
      }
      let user: TestUser | undefined;
      if (grantType === 'password') {
        entry.grantType = 'password';
        entry.username = form.get('username') ?? undefined;
        user = findUser(form.get('username') ?? '', form.get('password') ?? '');
        if (!user) return reply(401, { error: 'invalid_grant', error_description: 'invalid username or password' });
      } else if (grantType === 'refresh_token') {
        entry.grantType = 'refresh_token';
        const owner = refreshTokens.get(form.get('refresh_token') ?? '');
        user = owner === undefined ? undefined : options.users.find((u) => u.username === owner);
        if (!user) return reply(400, { error: 'invalid_grant', error_description: 'unknown refresh token' });
        entry.username = user.username;
      } else {
        return reply(400, { error: 'unsupported_grant_type', error_description: `grant_type '${grantType}'` });
      }
      const access = grantAccess(
        scopes.map(parseScope).filter((s): s is AccessEntry => !!s),
        user.grants ?? {},
      );
      const { token, issuedAt } = sign(user.username, access, entry.grantType);
      const body: Record<string, unknown> = {
        access_token: token,
        token_type: 'Bearer',
        expires_in: expiresIn,
        issued_at: issuedAt,
        scope: scopes.join(' '),
      };
      if (grantType === 'password' && form.get('access_type') === 'offline') {
        body.refresh_token = newRefreshToken(user.username, 'password');
      }
      return reply(200, body);
    }

    return reply(405, { errors: [{ code: 'UNSUPPORTED', message: `method ${method}` }] });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) send(res, 500, { errors: [{ code: 'UNKNOWN', message: err.message }] });
      else res.destroy();
    });
  });
  const host = `127.0.0.1:${await listenOnLoopback(server)}`;
  const url = `http://${host}`;

  return {
    host,
    url,
    realm: `${url}/token`,
    service: options.service,
    issuer: options.issuer,
    get issued() {
      return issued;
    },
    get requests() {
      return requests;
    },
    counts() {
      return {
        requests: requests.length,
        accessTokens: issued.filter((t) => t.kind === 'access').length,
        refreshTokens: issued.filter((t) => t.kind === 'refresh').length,
        denied: requests.filter((r) => r.status >= 400 && r.status < 500).length,
      };
    },
    setExpiresIn(seconds: number) {
      expiresIn = seconds;
    },
    expireNext(n: number) {
      expireBudget = n;
    },
    tokens() {
      return [...everyToken];
    },
    reset() {
      issued = [];
      requests = [];
      expireBudget = 0;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
