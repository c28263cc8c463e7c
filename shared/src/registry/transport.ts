import { silentLog, type Log } from '../log';
import { describeConnectionFailure } from '../net/errors';
import { networkFetch, type NetworkOptions } from '../net/network';
import { acrHostProblem } from '../reference/hosts';
import { canonicalRegistry, registryBaseUrl } from '../reference/reference';
import { exchangeForRefreshToken } from './acr';
import {
  ACR_REFRESH_TOKEN_USER,
  basicAuthorization,
  describeCredentials,
  normalizeScopes,
  parseChallenges,
  repositoryScope,
  readLimitedText,
  requestToken,
  scopesCover,
  splitScope,
  withRepositoryActions,
  type EntraCredentials,
  type IssuedToken,
  type PasswordCredentials,
  type RegistryCredentials,
} from './auth';
import { RegistryError } from './errors';
import { parseRetryAfter, retryOptions, withRetry, type RetryOptions } from './retry';

/*
 * One client per registry host: sends requests to the registry API, answers its auth challenge (anonymous, Basic,
 * Bearer token; an Entra identity through ACR's token exchange, acr.ts), and retries what is safe to retry under the
 * one policy of retry.ts. Operations (manifest.ts, blob.ts) sit on top of it; nothing here knows what a manifest is.
 */

/** Everything a client needs; only `registry` is required. */
export interface RegistryClientOptions {
  /** `host[:port]` as in image references (`docker.io` for Docker Hub). */
  registry: string;
  /**
   * Credentials for this host: a user name and password (a registry user, an ACR service principal's id and secret,
   * an ACR refresh token as the null-GUID user's password), or an Entra identity the client exchanges for an ACR
   * refresh token once, on the first Bearer challenge.
   */
  credentials?: RegistryCredentials;
  /**
   * Where credentials for this host come from, or would be set, for messages: e.g. `input 'containerRegistry'` makes
   * a refusal say `user 'ci' (input 'containerRegistry')` and a missing login `set input 'containerRegistry'`.
   */
  credentialsLabel?: string;
  /** The proxy and certificates every request (token requests included) goes out with; default: direct. */
  network?: NetworkOptions;
  /** Injected for tests; default: Node's global fetch, routed and secured by `network`. */
  fetch?: typeof globalThis.fetch;
  retry?: Partial<RetryOptions>;
  log?: Log;
  /** Aborts every request and wait of this client (e.g. the job was cancelled). */
  signal?: AbortSignal;
  /** Overrides the base URL (default: `http://` for loopback hosts, `https://` otherwise; Docker Hub's API host). */
  baseUrl?: string;
  userAgent?: string;
  /**
   * The host is an Azure Container Registry (an ACR connection, an Azure identity, or an `*.azurecr.io` name): tag
   * listings ask for ACR's `metadata_read` at once instead of learning it from a challenge.
   */
  acr?: boolean;
}

/** One registry request. */
export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** A path under the registry (`/v2/…`, query included) or an absolute URL (an upload location). */
  path: string;
  /** Scopes the request needs (`repository:team/app:pull`); a token covering them (and the declared ones) is used. */
  scopes: readonly string[];
  /** Statuses that are answers, not errors (e.g. `[200, 404]` for an existence check). */
  expect: readonly number[];
  headers?: Record<string, string>;
  /** A stream body cannot be replayed, so such a request is never retried here (its caller restarts the whole step). */
  body?: Uint8Array | string | ReadableStream<Uint8Array>;
  /** May be sent again after a failure. Default: true for GET, HEAD, PUT and DELETE. */
  idempotent?: boolean;
  /** Largest body accepted for a buffered response. */
  maxBodyBytes?: number;
}

/** A buffered response. */
export interface RegistryResponse {
  status: number;
  headers: Headers;
  /** The final URL (after redirects). */
  url: string;
  body: Buffer;
}

/** A response whose body is left unread (blob downloads). */
export interface RegistryStreamResponse {
  status: number;
  headers: Headers;
  url: string;
  body: ReadableStream<Uint8Array> | null;
}

/** Counters for budgets and tests. */
export interface TransportStats {
  /** HTTP requests sent to the registry (401 challenges and retries included; token requests not). */
  requests: number;
  /** Requests to the token service. */
  tokenRequests: number;
  /** 401 answers that were followed by authenticating and sending again. */
  challenges: number;
  /** Retries after a temporary failure. */
  retries: number;
  /** ACR token exchanges (`POST /oauth2/exchange`): one per Entra identity and registry. */
  exchanges: number;
  /** Successful PUT/POST/PATCH/DELETE requests. */
  writes: number;
  /** Blob bytes uploaded (completed uploads only): 0 when every blob was mounted or already there. */
  blobBytes: number;
}

/** The default user agent. */
export const USER_AGENT = 'outer-loop-tasks (azure-pipelines)';
/** Upper bound for a buffered body: manifests are at most 4 MiB in distribution and most registries. */
export const MAX_BUFFERED_BODY_BYTES = 4 * 1024 * 1024;

type AuthScheme = 'unknown' | 'basic' | 'bearer';

/** 401s answered in one try: learn the scheme, replace a stale cached token, replace a fresh one refused as invalid. */
const MAX_AUTH_ROUNDS = 3;

/** ACR's action for listing a repository's tags (its token service and scope maps; distribution lists with `pull`). */
const ACR_METADATA_READ = 'metadata_read';

interface AuthRounds {
  count: number;
  freshRejected: number;
  /** The scopes the next token must cover: the request's, widened by what a challenge asked for. */
  scopes: readonly string[];
}

/**
 * The kind of a `/v2/<name>/<kind>/…` request and its repository, or undefined for other paths. The last such word
 * ends the name (a repository may itself hold a part called `blobs`); the query is not looked at (a mount's `from`).
 */
function routeOf(path: string): { kind: string; repository: string } | undefined {
  const { pathname } = new URL(path, 'http://registry');
  const match = /^\/v2\/(.+)\/(tags\/list|manifests|blobs|referrers)(?:\/|$)/.exec(pathname);
  return match ? { repository: match[1], kind: match[2] } : undefined;
}

interface Authorization {
  header?: string;
  token?: IssuedToken;
  /** True when the token was fetched for this very request (a 401 on it is final). */
  fresh: boolean;
}

/** A client for one registry host. Create one per host and reuse it: it caches the auth scheme and tokens. */
export class RegistryClient {
  /** `host[:port]` as in references (`docker.io` for Docker Hub). */
  readonly registry: string;
  /** `http(s)://host[:port]` the API is reached at. */
  readonly baseUrl: string;
  readonly log: Log;
  readonly retry: RetryOptions;
  readonly signal?: AbortSignal;
  readonly stats: TransportStats = {
    requests: 0,
    tokenRequests: 0,
    challenges: 0,
    retries: 0,
    writes: 0,
    exchanges: 0,
    blobBytes: 0,
  };

  private readonly credentials?: RegistryCredentials;
  private readonly credentialsLabel?: string;
  private readonly network?: NetworkOptions;
  private readonly fetchFn: typeof globalThis.fetch;
  private readonly userAgent: string;
  private readonly origin: string;
  private scheme: AuthScheme = 'unknown';
  private bearer?: { realm: string; service?: string };
  private tokens: IssuedToken[] = [];
  private readonly pending = new Map<string, Promise<IssuedToken>>();
  /** ACR refresh tokens of an Entra identity, by token realm origin and service: one exchange each. */
  private readonly refreshTokens = new Map<string, Promise<string>>();
  private declared: string[] = [];
  /** Settles when the first request to learn the auth scheme has its answer; requests sent meanwhile wait for it. */
  private firstAnswer?: Promise<void>;
  /**
   * Actions the registry wants, on the request's repository, beyond those a kind of request (`tags/list`,
   * `manifests`…) asks for: ACR wants `metadata_read` to list tags, where distribution wants `pull`. Learned from a
   * challenge's `scope`, or known for ACR, and asked for with every later request of that kind.
   */
  private readonly routeActions = new Map<string, Set<string>>();

  constructor(options: RegistryClientOptions) {
    this.registry = canonicalRegistry(options.registry);
    this.baseUrl = (options.baseUrl ?? registryBaseUrl(this.registry)).replace(/\/+$/, '');
    this.origin = new URL(this.baseUrl).origin;
    this.credentials = options.credentials;
    this.credentialsLabel = options.credentialsLabel;
    this.network = options.network;
    this.fetchFn = options.fetch ?? networkFetch(options.network);
    this.retry = retryOptions(options.retry);
    this.log = options.log ?? silentLog;
    this.signal = options.signal;
    this.userAgent = options.userAgent ?? USER_AGENT;
    const acr = options.acr || this.credentials?.kind === 'entra' || acrHostProblem(this.registry) === undefined;
    if (acr) this.routeActions.set('tags/list', new Set([ACR_METADATA_READ]));
    if (this.credentials?.kind !== 'entra' && this.credentials?.password) {
      this.log.secret(this.credentials.password);
      this.log.secret(Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64'));
    }
  }

  /** True when the client has credentials for its host. */
  get hasCredentials(): boolean {
    return this.credentials !== undefined;
  }

  /**
   * The credentials as a user name and password, the form `docker login` and the engine take: as given, or for an
   * Entra identity the null-GUID user with an ACR refresh token (the exchange this client makes anyway, made once:
   * the registry's challenge is asked for first when the client has not seen one). Undefined without credentials.
   */
  async passwordCredentials(): Promise<PasswordCredentials | undefined> {
    const credentials = this.credentials;
    if (credentials?.kind !== 'entra') return credentials;
    if (!this.bearer) await this.learnChallenge();
    if (!this.bearer) {
      throw new RegistryError({
        status: 0,
        code: 'NO_TOKEN_REALM',
        message: `${this.registry} sends no Bearer challenge, so ${describeCredentials(credentials, this.credentialsLabel)} cannot be exchanged for an ACR token there`,
        url: this.resolveUrl('/v2/'),
        method: 'GET',
        temporary: false,
      });
    }
    const password = await this.refreshToken(credentials, this.bearer.realm, this.bearer.service);
    // The engine may put them in a Basic header: that form is masked too.
    this.log.secret(Buffer.from(`${ACR_REFRESH_TOKEN_USER}:${password}`).toString('base64'));
    return { username: ACR_REFRESH_TOKEN_USER, password };
  }

  /** Asks `/v2/` without credentials, as Docker and `az acr login` do, to learn the registry's auth challenge. */
  private async learnChallenge(): Promise<void> {
    const request: RegistryRequest = { method: 'GET', path: '/v2/', scopes: [], expect: [200, 401] };
    const url = this.resolveUrl(request.path);
    const response = await this.withRetries(request, async () => {
      const answer = await this.send(request, url, undefined);
      if (answer.status === 200 || answer.status === 401) return answer;
      throw RegistryError.fromResponse({
        status: answer.status,
        body: await readLimitedText(answer).catch(() => ''),
        url,
        method: 'GET',
        retryAfterMs: parseRetryAfter(answer.headers.get('retry-after'), this.retry.now()),
      });
    });
    await response.body?.cancel().catch(() => undefined);
    const bearer = parseChallenges(response.headers.get('www-authenticate')).find((c) => c.scheme === 'bearer' && c.params.realm);
    if (!bearer) return;
    this.scheme = 'bearer';
    this.bearer = { realm: bearer.params.realm, service: bearer.params.service };
  }

  /** The ACR refresh token for an Entra identity at this realm: exchanged once, a failure not remembered. */
  private refreshToken(credentials: EntraCredentials, realm: string, service: string | undefined): Promise<string> {
    const key = `${new URL(realm).origin} ${service ?? ''}`;
    let token = this.refreshTokens.get(key);
    if (!token) {
      this.stats.exchanges++;
      token = exchangeForRefreshToken({
        fetch: this.fetchFn,
        network: this.network,
        credentials,
        realm,
        service,
        registry: this.registry,
        label: this.credentialsLabel,
        now: this.retry.now,
        signal: this.signal,
        userAgent: this.userAgent,
        secret: (value) => this.log.secret(value),
      }).catch((error: unknown) => {
        this.refreshTokens.delete(key);
        throw this.networkError('POST', `${new URL(realm).origin}/oauth2/exchange`, error);
      });
      this.refreshTokens.set(key, token);
    }
    return token;
  }

  /**
   * Scopes every token of this client should carry from now on, so one token covers a whole job (for a promotion:
   * pull and push on the target, pull on the source) instead of one token per operation.
   */
  declareScopes(scopes: readonly string[]): void {
    this.declared = normalizeScopes([...this.declared, ...scopes]);
  }

  /** Sends a request and reads its body (bounded). Retries temporary failures when the request may be replayed. */
  async request(request: RegistryRequest): Promise<RegistryResponse> {
    return this.withRetries(request, async () => {
      const response = await this.attempt(request);
      const body = await this.readBody(request, response);
      return { status: response.status, headers: response.headers, url: response.url || this.resolveUrl(request.path), body };
    });
  }

  /** Sends a request and returns the body unread. Only the response headers are covered by retries. */
  async requestStream(request: RegistryRequest): Promise<RegistryStreamResponse> {
    return this.withRetries(request, async () => {
      const response = await this.attempt(request);
      return {
        status: response.status,
        headers: response.headers,
        url: response.url || this.resolveUrl(request.path),
        body: response.body,
      };
    });
  }

  /** Resolves `path` (relative, or an absolute upload location) against the registry. */
  resolveUrl(path: string): string {
    return /^https?:\/\//i.test(path) ? path : `${this.baseUrl}${path.startsWith('/') ? '' : '/'}${path}`;
  }

  private async withRetries<T>(request: RegistryRequest, action: () => Promise<T>): Promise<T> {
    const replayable = !(request.body instanceof ReadableStream);
    const idempotent = request.idempotent ?? ['GET', 'HEAD', 'PUT', 'DELETE'].includes(request.method);
    if (!replayable || !idempotent) return action();
    return withRetry(action, this.retry, {
      signal: this.signal,
      onRetry: ({ attempt, delayMs, error }) => {
        this.stats.retries++;
        const reason = error instanceof Error ? error.message : String(error);
        this.log.debug(`retry ${attempt}/${this.retry.attempts - 1} in ${delayMs} ms: ${reason}`);
      },
    });
  }

  private async readBody(request: RegistryRequest, response: Response): Promise<Buffer> {
    const limit = request.maxBodyBytes ?? MAX_BUFFERED_BODY_BYTES;
    if (request.method === 'HEAD' || !response.body) return Buffer.alloc(0);
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (declared > limit) {
      await response.body.cancel().catch(() => undefined);
      throw this.tooLarge(request, response.url, declared, limit);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.length;
        if (size > limit) throw this.tooLarge(request, response.url, size, limit);
        chunks.push(chunk);
      }
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      throw this.networkError(request.method, response.url, error);
    }
    return Buffer.concat(chunks);
  }

  private tooLarge(request: RegistryRequest, url: string, size: number, limit: number): RegistryError {
    return new RegistryError({
      status: 0,
      code: 'TOO_LARGE',
      message: `the response has ${size} bytes, more than the ${limit} accepted`,
      url,
      method: request.method,
      temporary: false,
    });
  }

  private networkError(method: string, url: string, error: unknown): Error {
    if (this.signal?.aborted) return this.signal.reason instanceof Error ? this.signal.reason : new Error('cancelled');
    if (error instanceof RegistryError) return error;
    // A proxy refusing the credentials or a certificate not trusted is named with its setting, and not retried.
    const failure = describeConnectionFailure(error, url, this.network);
    return new RegistryError({
      status: 0,
      code: 'NETWORK_ERROR',
      message: failure.message,
      url,
      method,
      temporary: failure.temporary,
      cause: error,
    });
  }

  /**
   * One try, with a bounded number of authentication rounds: learn the scheme from the challenge, replace a cached
   * token the registry no longer accepts, and replace once a fresh token it calls invalid (expired on arrival).
   */
  private async attempt(request: RegistryRequest): Promise<Response> {
    const url = this.resolveUrl(request.path);
    const sameOrigin = new URL(url).origin === this.origin;
    // Requests sent together before the scheme is known would each be refused with a challenge: one learns it.
    let learned: (() => void) | undefined;
    if (sameOrigin && this.scheme === 'unknown') {
      if (this.firstAnswer) await this.firstAnswer;
      else this.firstAnswer = new Promise<void>((resolve) => (learned = resolve));
    }
    try {
      return await this.attemptWithAuth(request, url, sameOrigin);
    } finally {
      learned?.();
    }
  }

  private async attemptWithAuth(request: RegistryRequest, url: string, sameOrigin: boolean): Promise<Response> {
    const rounds: AuthRounds = { count: 0, freshRejected: 0, scopes: this.scopesFor(request) };
    for (;;) {
      const auth: Authorization = sameOrigin ? await this.authorize(rounds.scopes) : { fresh: false };
      const response = await this.send(request, url, auth.header);
      if (response.status === 401 && sameOrigin && (await this.onUnauthorized(request, response, auth, rounds)) === 'again') continue;
      if (request.expect.includes(response.status)) {
        if (!['GET', 'HEAD'].includes(request.method)) this.stats.writes++;
        return response;
      }
      const body = request.method === 'HEAD' ? '' : await readLimitedText(response).catch(() => '');
      throw RegistryError.fromResponse({
        status: response.status,
        body,
        url: response.url || url,
        method: request.method,
        hint: this.hintFor(response, auth),
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), this.retry.now()),
      });
    }
  }

  /** The request's scopes, with the actions its kind of request is known to need on this registry. */
  private scopesFor(request: RegistryRequest): readonly string[] {
    const route = routeOf(request.path);
    const extra = route && this.routeActions.get(route.kind);
    return extra ? normalizeScopes([...request.scopes, repositoryScope(route.repository, [...extra])]) : request.scopes;
  }

  /**
   * Remembers actions a challenge named on the request's repository that the request did not ask for, for its kind
   * of request; `authorize` asks for them on every declared repository, so the next token covers every later request
   * of that kind in the job. Returns the request's scopes widened, or undefined when the challenge asks for nothing new.
   */
  private learnFromChallenge(request: RegistryRequest, asked: readonly string[], challenged: string | undefined): string[] | undefined {
    const route = routeOf(request.path);
    if (!route || !challenged) return undefined;
    const wanted = normalizeScopes([challenged]);
    if (scopesCover(asked, wanted)) return undefined;
    const resource = `repository:${route.repository}`;
    const actions = wanted
      .map(splitScope)
      .filter((parsed) => parsed?.resource === resource)
      .flatMap((parsed) => parsed!.actions);
    if (actions.length === 0) return undefined;
    const known = this.routeActions.get(route.kind) ?? new Set<string>();
    for (const action of actions) known.add(action);
    this.routeActions.set(route.kind, known);
    this.log.debug(`${this.registry} wants ${actions.join(',')} for ${route.kind}: asked for from now on`);
    return normalizeScopes([...asked, ...wanted]);
  }

  /** Decides what a 401 means: send again with (new) credentials, or give up ('fail': the caller reports it). */
  private async onUnauthorized(
    request: RegistryRequest,
    response: Response,
    auth: Authorization,
    rounds: AuthRounds,
  ): Promise<'again' | 'fail'> {
    const challenges = parseChallenges(response.headers.get('www-authenticate'));
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = challenges.find((c) => c.scheme === 'basic');
    const widened =
      bearer && this.scheme === 'bearer'
        ? this.learnFromChallenge(request, auth.token?.scopes ?? rounds.scopes, bearer.params.scope)
        : undefined;
    // A token refused for lack of a scope it was asked for was granted less: it still serves what it was granted.
    const granted = bearer?.params.error === 'insufficient_scope' && !widened;
    if (auth.token && !granted) this.tokens = this.tokens.filter((t) => t !== auth.token);
    if (rounds.count++ >= MAX_AUTH_ROUNDS) return 'fail';
    if (widened) {
      rounds.scopes = widened;
    } else if (granted && auth.token) {
      return 'fail';
    } else if (bearer) {
      const changed = this.scheme !== 'bearer' || this.bearer?.realm !== bearer.params.realm;
      this.scheme = 'bearer';
      this.bearer = { realm: bearer.params.realm, service: bearer.params.service };
      if (auth.fresh && !changed) {
        // A token issued for this request and refused: for lack of access that is final; as invalid (expired in
        // transit, clock skew) one more is worth asking for.
        if (bearer.params.error === 'insufficient_scope' || rounds.freshRejected++ >= 1) return 'fail';
      }
    } else if (basic) {
      if (!this.credentials || this.credentials.kind === 'entra' || auth.header?.startsWith('Basic ')) return 'fail';
      this.scheme = 'basic';
    } else {
      return 'fail';
    }
    await response.body?.cancel().catch(() => undefined);
    if (request.body instanceof ReadableStream) {
      // The body is gone; the caller restarts the whole step, which will find a fresh token.
      throw new RegistryError({
        status: 401,
        code: 'UNAUTHORIZED',
        message: 'the registry refused the token while a stream was being sent',
        url: response.url,
        method: request.method,
        temporary: true,
      });
    }
    this.stats.challenges++;
    return 'again';
  }

  /** What to add to a 401/403 message so the reader knows which credentials and which access were missing. */
  private hintFor(response: Response, auth: Authorization): string | undefined {
    if (response.status !== 401 && response.status !== 403) return undefined;
    const label = this.credentialsLabel;
    const who = describeCredentials(this.credentials, label);
    const challenges = parseChallenges(response.headers.get('www-authenticate'));
    const challenge = challenges.find((c) => c.scheme === 'bearer') ?? challenges[0];
    // Sorted as normalizeScopes writes them: the registry echoes the actions in the order the request named them.
    const scope = challenge?.params.scope ? `'${normalizeScopes([challenge.params.scope]).join(' ')}'` : 'this needs';
    if (response.status === 401 && !this.credentials) {
      return `${this.registry} needs credentials for this: ${label ? `set ${label} to a service connection for it` : 'use a service connection for it'}`;
    }
    if (challenge?.params.error === 'insufficient_scope') return `${who} lacks the access ${scope} (insufficient_scope)`;
    if (challenge?.params.error === 'invalid_token') return `${this.registry} does not accept the tokens issued for ${who} (invalid_token)`;
    if (response.status === 401 && auth.token) return `${who} lacks the access ${scope}`;
    if (response.status === 401 && this.credentials?.kind === 'entra')
      return `${this.registry} asks for Basic credentials, which ${who} does not have: Entra ID signs in to Azure Container Registry only`;
    if (response.status === 401)
      return `${this.registry} refused the credentials of ${who}: check the service connection's user name and password`;
    return `${who} is not allowed to do this`;
  }

  private async authorize(scopes: readonly string[]): Promise<Authorization> {
    if (this.scheme === 'basic' && this.credentials && this.credentials.kind !== 'entra')
      return { header: basicAuthorization(this.credentials), fresh: false };
    if (this.scheme !== 'bearer' || !this.bearer) return { fresh: false };
    const wanted = normalizeScopes(scopes);
    const now = this.retry.now();
    this.tokens = this.tokens.filter((t) => t.expiresAt > now);
    const cached = this.tokens.find((t) => scopesCover(t.scopes, wanted));
    if (cached) return { header: `Bearer ${cached.token}`, token: cached, fresh: false };
    // What some kinds of request need here (routeActions) goes on every declared repository: one token serves the job.
    const learned = [...new Set([...this.routeActions.values()].flatMap((actions) => [...actions]))];
    const all = normalizeScopes([...withRepositoryActions(this.declared, learned), ...wanted]);
    const key = all.join(' ');
    let pending = this.pending.get(key);
    if (!pending) {
      const { realm, service } = this.bearer;
      pending = (async () => {
        const entra = this.credentials?.kind === 'entra' ? this.credentials : undefined;
        const credentials: PasswordCredentials | undefined = entra
          ? { username: ACR_REFRESH_TOKEN_USER, password: await this.refreshToken(entra, realm, service) }
          : (this.credentials as PasswordCredentials | undefined);
        this.stats.tokenRequests++;
        const issued = await requestToken({
          fetch: this.fetchFn,
          realm,
          service,
          scopes: all,
          credentials,
          credentialsLabel: this.credentialsLabel,
          identity: entra?.identity,
          registry: this.registry,
          now: this.retry.now,
          signal: this.signal,
          userAgent: this.userAgent,
        }).catch((error: unknown) => {
          throw this.networkError('GET', realm, error);
        });
        this.log.secret(issued.token);
        this.log.debug(`token for ${this.registry}: ${all.join(' ') || '(no scope)'}`);
        this.tokens.push(issued);
        return issued;
      })().finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    const token = await pending;
    return { header: `Bearer ${token.token}`, token, fresh: true };
  }

  private async send(request: RegistryRequest, url: string, authorization: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...request.headers };
    if (authorization) headers.authorization = authorization;
    const streamedBody = request.body instanceof ReadableStream;
    const signals: AbortSignal[] = [];
    if (this.signal) signals.push(this.signal);
    const init: RequestInit & { duplex?: 'half' } = {
      method: request.method,
      headers,
      body: request.body as RequestInit['body'],
      signal: signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals),
      redirect: 'follow',
    };
    if (streamedBody) init.duplex = 'half';
    this.stats.requests++;
    try {
      const response = await this.fetchFn(url, init);
      this.log.debug(`${request.method} ${new URL(url).pathname} → ${response.status}`);
      return response;
    } catch (error) {
      throw this.networkError(request.method, url, error);
    }
  }
}
