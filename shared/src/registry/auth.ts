import type { NetworkOptions } from '../net/network';
import { isLoopbackHost } from '../reference/reference';
import { MAX_ERROR_BODY_BYTES, RegistryError } from './errors';
import { parseRetryAfter } from './retry';

/*
 * Registry authentication: the WWW-Authenticate challenge (RFC 9110 §11.6.1), scopes
 * (https://distribution.github.io/distribution/spec/auth/scope/) and the token endpoint
 * (https://distribution.github.io/distribution/spec/auth/token/, /spec/auth/oauth/).
 */

/**
 * A user name and password: a registry user, an ACR service principal's id and secret, or an ACR refresh token as the
 * password of the null-GUID user ({@link ACR_REFRESH_TOKEN_USER}). This is what the Docker engine takes.
 */
export interface PasswordCredentials {
  kind?: 'password';
  username: string;
  password: string;
}

/** Options of an {@link EntraTokenSource} call: the transport the registry client uses, so proxy and certificates apply. */
export interface EntraTokenRequest {
  fetch: typeof globalThis.fetch;
  network?: NetworkOptions;
  signal?: AbortSignal;
}

/** Gets an Entra ID access token for the ACR audience; called at most once per run by a well-behaved source. */
export type EntraTokenSource = (request: EntraTokenRequest) => Promise<string>;

/**
 * An Entra ID identity (service principal with a certificate or a federated token, managed identity) that signs in
 * to Azure Container Registry by exchanging its Entra token for an ACR refresh token (Azure/acr docs/AAD-OAuth.md:
 * `POST /oauth2/exchange`, then `POST /oauth2/token` per scope set). The Entra token goes only to ACR login servers.
 */
export interface EntraCredentials {
  kind: 'entra';
  /** Who signs in, for messages: `service principal '1111…' (workload identity federation)`, `managed identity`. */
  identity: string;
  /** The Entra tenant the exchange names; undefined lets the registry take its own. */
  tenant?: string;
  accessToken: EntraTokenSource;
  /** Admit loopback hosts as login servers (the documented test seam; see reference/hosts.ts). */
  admitLoopback?: boolean;
}

/** How a login proves who it is: a user name and password, or an Entra identity exchanged for an ACR token. */
export type RegistryCredentials = PasswordCredentials | EntraCredentials;

/** The user name that marks an ACR refresh token as the password (Azure/acr docs/AAD-OAuth.md). */
export const ACR_REFRESH_TOKEN_USER = '00000000-0000-0000-0000-000000000000';

/** True for credentials that are an ACR refresh token (the null-GUID user). */
export function isAcrRefreshToken(credentials: PasswordCredentials): boolean {
  return credentials.username === ACR_REFRESH_TOKEN_USER;
}

/** Who `credentials` are, for messages: `user 'ci'`, `the ACR refresh token`, or the Entra identity. */
export function describeCredentials(credentials: RegistryCredentials | undefined, label?: string): string {
  if (!credentials) return 'anonymous access';
  const who =
    credentials.kind === 'entra'
      ? credentials.identity
      : isAcrRefreshToken(credentials)
        ? 'the ACR refresh token'
        : `user '${credentials.username}'`;
  return label ? `${who} (${label})` : who;
}

/** One challenge of a WWW-Authenticate header; `scheme` is lower case, parameter names too. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** A token the token service issued, with the scopes it was asked for. */
export interface IssuedToken {
  token: string;
  /** The normalised scopes requested (what was granted may be less: the registry tells with a 401). */
  scopes: string[];
  /** Milliseconds since the epoch after which the token is not used any more. */
  expiresAt: number;
}

/** The token lifetime to assume when the response does not say (the token spec's default). */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 60;
/** A token is renewed this long before it expires, so it does not run out between check and use. */
export const TOKEN_EXPIRY_MARGIN_MS = 10_000;
/** `client_id` sent with OAuth2 password grants; the spec asks clients to identify themselves. */
export const OAUTH_CLIENT_ID = 'outer-loop-tasks';

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses a WWW-Authenticate value into its challenges, e.g.
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"`. Several challenges may
 * share one header (fetch joins repeated headers with ", "). Quoted strings may hold commas and escaped quotes.
 */
export function parseChallenges(header: string | null | undefined): Challenge[] {
  if (!header) return [];
  const text = header;
  const challenges: Challenge[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /[\s]/.test(text[i])) i++;
  };
  const readToken = () => {
    const start = i;
    while (i < text.length && TOKEN_CHAR.test(text[i])) i++;
    return text.slice(start, i);
  };
  const readQuoted = () => {
    let value = '';
    i++; // opening quote
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < text.length) i++;
      value += text[i++];
    }
    i++; // closing quote
    return value;
  };
  let current: Challenge | undefined;
  while (i < text.length) {
    skipSpace();
    if (text[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const word = readToken();
    if (!word) {
      i++; // unexpected character: skip it rather than loop
      continue;
    }
    skipSpace();
    if (text[i] === '=' && current) {
      i++;
      skipSpace();
      const value = text[i] === '"' ? readQuoted() : readToken();
      current.params[word.toLowerCase()] = value;
      continue;
    }
    if (text[i] === '=' && !current) {
      // A parameter before any scheme: not a challenge we understand; skip it.
      i = start + word.length + 1;
      continue;
    }
    current = { scheme: word.toLowerCase(), params: {} };
    challenges.push(current);
    // token68 form (`Basic dXNlcg==`) is not used by registries; a following word that is not `k=v` starts a new challenge.
  }
  return challenges;
}

/** `repository:<name>:<actions>`. */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

/** Splits `type:name:actions`; the name may contain ':' (a registry with a port in `registry:catalog:*` forms). */
export function splitScope(scope: string): { resource: string; actions: string[] } | undefined {
  const last = scope.lastIndexOf(':');
  if (last <= 0) return undefined;
  const resource = scope.slice(0, last);
  if (!resource.includes(':')) return undefined;
  return {
    resource,
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

/** Merges scopes per resource (`repository:a:pull` + `repository:a:push` → `repository:a:pull,push`), sorted. */
export function normalizeScopes(scopes: Iterable<string>): string[] {
  const byResource = new Map<string, Set<string>>();
  for (const scope of scopes) {
    for (const part of scope.split(' ').filter(Boolean)) {
      const parsed = splitScope(part);
      if (!parsed) continue;
      const actions = byResource.get(parsed.resource) ?? new Set<string>();
      for (const action of parsed.actions) actions.add(action);
      byResource.set(parsed.resource, actions);
    }
  }
  return [...byResource.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([resource, actions]) => `${resource}:${[...actions].sort().join(',')}`);
}

/** `scopes` with `actions` added to every repository among them (normalized). */
export function withRepositoryActions(scopes: readonly string[], actions: readonly string[]): string[] {
  if (actions.length === 0) return [...scopes];
  const repositories = scopes.map(splitScope).filter((parsed) => parsed?.resource.startsWith('repository:'));
  return normalizeScopes([...scopes, ...repositories.map((parsed) => `${parsed!.resource}:${actions.join(',')}`)]);
}

/** True when every action of `wanted` is among the actions of `held` for the same resource. */
export function scopesCover(held: Iterable<string>, wanted: Iterable<string>): boolean {
  const have = new Map<string, Set<string>>();
  for (const scope of normalizeScopes(held)) {
    const parsed = splitScope(scope);
    if (parsed) have.set(parsed.resource, new Set(parsed.actions));
  }
  for (const scope of normalizeScopes(wanted)) {
    const parsed = splitScope(scope);
    if (!parsed) continue;
    const actions = have.get(parsed.resource);
    if (!actions || !parsed.actions.every((a) => actions.has(a) || actions.has('*'))) return false;
  }
  return true;
}

function basicHeader(credentials: PasswordCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** `Authorization` value for Basic authentication. */
export function basicAuthorization(credentials: PasswordCredentials): string {
  return basicHeader(credentials);
}

/** Reads at most `limit` bytes of a response body as text. */
export async function readLimitedText(response: Response, limit = MAX_ERROR_BODY_BYTES): Promise<string> {
  if (!response.body) return '';
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

/** What `requestToken` needs: the challenge's realm and service, the scopes, and who asks. */
export interface TokenRequest {
  fetch: typeof globalThis.fetch;
  realm: string;
  service?: string;
  scopes: readonly string[];
  credentials?: PasswordCredentials;
  /** Registry host the challenge came from, for messages. */
  registry: string;
  /** Where the credentials come from, for messages (e.g. `input 'containerRegistry'`). */
  credentialsLabel?: string;
  /** Who the credentials are, for messages, when not their user name (an Entra identity behind a refresh token). */
  identity?: string;
  now: () => number;
  signal?: AbortSignal;
  userAgent?: string;
}

function tokenUrl(realm: string, registry: string): URL {
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new RegistryError({
      status: 0,
      code: 'BAD_CHALLENGE',
      message: `the registry ${registry} named a token realm that is not a URL: '${realm}'`,
      temporary: false,
    });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new RegistryError({
      status: 0,
      code: 'BAD_CHALLENGE',
      message: `the registry ${registry} named a token realm that is not http(s): ${url.protocol}`,
      temporary: false,
    });
  }
  return url;
}

function parseTokenBody(text: string, now: number): { token: string; expiresAt: number } | undefined {
  let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    return undefined;
  }
  const token = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
  if (!token) return undefined;
  const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_SECONDS;
  // issued_at is the server's clock; ours decides, so a skewed server cannot make a token look fresh for too long.
  const lifetimeMs = expiresIn * 1000;
  return { token, expiresAt: now + lifetimeMs - Math.min(TOKEN_EXPIRY_MARGIN_MS, lifetimeMs / 2) };
}

/** What to tell the reader when the token service refuses `who`. */
function refusalHint(request: TokenRequest, who: string): string {
  const fix = request.identity
    ? 'the identity needs a role on the registry that allows this (AcrPull to pull, AcrPush to push)'
    : "check the service connection's user name and password";
  return `the token service of ${request.registry} refused ${who}: ${fix}`;
}

/** POSTs an OAuth2 form (`application/x-www-form-urlencoded`) to a token service, as every token grant here does. */
export function postTokenForm(
  fetch: typeof globalThis.fetch,
  url: string | URL,
  form: URLSearchParams,
  options: { userAgent?: string; signal?: AbortSignal },
): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      ...(options.userAgent ? { 'user-agent': options.userAgent } : {}),
    },
    body: form.toString(),
    signal: options.signal,
  });
}

/**
 * Asks the token service (the challenge's `realm`) for a Bearer token covering `scopes`: GET with Basic credentials
 * (or none, for anonymous access), as Docker does; an OAuth2 password grant (POST form) when the service does not
 * answer GET (404/405) and credentials exist. An ACR refresh token (the null-GUID user) is traded with a
 * `grant_type=refresh_token` POST, one `scope` field per scope (Azure/acr docs/AAD-OAuth.md, `POST /oauth2/token`).
 * Credentials never go to a plain-HTTP realm off the loopback.
 */
export async function requestToken(request: TokenRequest): Promise<IssuedToken> {
  const scopes = normalizeScopes(request.scopes);
  const url = tokenUrl(request.realm, request.registry);
  const who = request.identity
    ? `${request.identity}${request.credentialsLabel ? ` (${request.credentialsLabel})` : ''}`
    : describeCredentials(request.credentials, request.credentialsLabel);
  if (request.credentials && url.protocol === 'http:' && !isLoopbackHost(url.host)) {
    throw new RegistryError({
      status: 0,
      code: 'INSECURE_REALM',
      message: `the registry ${request.registry} sends credentials to plain-HTTP token service ${url.origin}; refusing to send them unencrypted`,
      temporary: false,
    });
  }
  const post = (form: URLSearchParams) => postTokenForm(request.fetch, tokenUrl(request.realm, request.registry), form, request);

  let response: Response;
  let method: 'GET' | 'POST';
  if (request.credentials && isAcrRefreshToken(request.credentials)) {
    const form = new URLSearchParams({ grant_type: 'refresh_token' });
    if (request.service) form.set('service', request.service);
    for (const scope of scopes) form.append('scope', scope);
    form.set('refresh_token', request.credentials.password);
    method = 'POST';
    response = await post(form);
  } else {
    if (request.service) url.searchParams.set('service', request.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (request.userAgent) headers['user-agent'] = request.userAgent;
    if (request.credentials) headers.authorization = basicHeader(request.credentials);
    response = await request.fetch(url, { method: 'GET', headers, signal: request.signal });
    method = 'GET';
    if ((response.status === 404 || response.status === 405) && request.credentials) {
      await response.body?.cancel().catch(() => undefined);
      const form = new URLSearchParams({
        grant_type: 'password',
        client_id: OAUTH_CLIENT_ID,
        username: request.credentials.username,
        password: request.credentials.password,
      });
      if (request.service) form.set('service', request.service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      method = 'POST';
      response = await post(form);
    }
  }
  const text = await readLimitedText(response, 1024 * 1024);
  if (response.status !== 200) {
    const hint = response.status === 401 || response.status === 403 ? refusalHint(request, who) : `token request for ${who} failed`;
    throw RegistryError.fromResponse({
      status: response.status,
      body: text,
      url: url.toString(),
      method,
      hint,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), request.now()),
    });
  }
  const parsed = parseTokenBody(text, request.now());
  if (!parsed) {
    throw new RegistryError({
      status: response.status,
      code: 'BAD_TOKEN_RESPONSE',
      message: `the token service of ${request.registry} answered without a token`,
      url: url.toString(),
      method,
      temporary: false,
    });
  }
  return { token: parsed.token, scopes, expiresAt: parsed.expiresAt };
}
