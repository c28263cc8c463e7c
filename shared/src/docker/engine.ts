import type * as https from 'node:https';
import * as os from 'node:os';
import type Docker from 'dockerode';
import type { Log } from '../log';
import { registryHostFromUrl } from '../reference/hosts';
import type { PasswordCredentials } from '../registry/auth';
import type { RegistryLogin as Login } from '../registry/clients';
import { redactHost, resolveEngineEndpoint, type EngineEndpoint, type ResolveEndpointOptions } from './endpoint';
import { describeHostKeyRefusal, hostKeyCheck, type HostKeyCheck, type HostKeyRefusal } from './known-hosts';

export { EngineSettingsError, type EngineEndpoint } from './endpoint';

/**
 * The one login type (registry/clients.ts) with what the engine takes: a user name and password, handed to it per
 * call (never written to a Docker config file). An Entra identity is first exchanged for the null-GUID user and an
 * ACR refresh token (RegistryClient.passwordCredentials).
 */
export type RegistryLogin = Login<PasswordCredentials>;

const endpoints = new WeakMap<Docker, EngineEndpoint>();
const hostKeyChecks = new WeakMap<Docker, HostKeyCheck>();

/** Where `docker` talks to its engine, for messages: `unix:///var/run/docker.sock`, `tcp://host:2376`. */
export function engineAddress(docker: Docker): string {
  const known = endpoints.get(docker);
  if (known) return redactHost(known.host);
  const modem = docker.modem as { socketPath?: unknown; protocol?: string; host?: string; port?: string | number };
  if (typeof modem.socketPath === 'string') return `unix://${modem.socketPath}`;
  return `${modem.protocol ?? 'http'}://${modem.host ?? 'localhost'}${modem.port ? `:${modem.port}` : ''}`;
}

/** The endpoint {@link connectEngine} resolved for `docker`, with where it came from; undefined for others. */
export function engineEndpoint(docker: Docker): EngineEndpoint | undefined {
  return endpoints.get(docker);
}

/** How long an idle TLS connection to the engine is kept for the next call (saves a handshake per API call). */
const TLS_KEEP_ALIVE_MS = 10_000;

/** A Docker client for `endpoint` (see {@link resolveEngineEndpoint}); the endpoint is remembered for messages. */
export function dockerFor(endpoint: EngineEndpoint, env: NodeJS.ProcessEnv = process.env): Docker {
  const [scheme, rest] = [endpoint.host.slice(0, endpoint.host.indexOf('://')), endpoint.host.slice(endpoint.host.indexOf('://') + 3)];
  // Every connection option is given, undefined ones too, so none of dockerode's defaults is left in.
  const none = {
    host: undefined,
    port: undefined,
    socketPath: undefined,
    ca: undefined,
    cert: undefined,
    key: undefined,
    agent: undefined,
  };
  let docker: Docker;
  if (scheme === 'unix' || scheme === 'npipe') {
    docker = newDocker({ ...none, socketPath: rest });
  } else if (scheme === 'ssh') {
    const url = new URL(endpoint.host);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    // The host's key is checked against known_hosts as the CLI's ssh does (known-hosts.ts), before the login.
    const check = hostKeyCheck(host, Number(url.port || 22));
    const serverHostKey = check.serverHostKeyAlgorithms();
    docker = newDocker({
      ...none,
      protocol: 'ssh',
      host,
      port: url.port || 22,
      // ssh logs in as the local user when the address names none; docker-modem's ssh2 client needs a name.
      username: decodeURIComponent(url.username) || localUser(),
      sshOptions: { agent: env.SSH_AUTH_SOCK, hostVerifier: check.verify, ...(serverHostKey ? { algorithms: { serverHostKey } } : {}) },
    });
    hostKeyChecks.set(docker, check);
  } else {
    const url = new URL(endpoint.host);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const tls = endpoint.tls;
    docker = newDocker({
      ...none,
      protocol: tls ? 'https' : 'http',
      host,
      port: url.port,
      ...(tls
        ? {
            // The TLS settings live in the agent: dockerode passes no rejectUnauthorized of its own, and the hijacked
            // BuildKit session connection is made through the same agent.
            // eslint-disable-next-line @typescript-eslint/no-require-imports -- only TLS engines need https
            agent: new (require('node:https') as typeof https).Agent({
              ca: tls.ca,
              cert: tls.cert,
              key: tls.key,
              rejectUnauthorized: tls.verify,
              keepAlive: true,
              keepAliveMsecs: TLS_KEEP_ALIVE_MS,
            }),
          }
        : {}),
    });
  }
  endpoints.set(docker, endpoint);
  return docker;
}

function localUser(): string | undefined {
  try {
    return os.userInfo().username;
  } catch {
    return undefined;
  }
}

/**
 * Loaded when the first client is made, not as the task starts: a run that stops at its inputs never reads dockerode
 * (build/bundle.mjs keeps it in its own file; bench/startup measures the difference).
 *
 * dockerode's modem computes defaults from process.env before it looks at the options: with DOCKER_HOST set it reads
 * DOCKER_CERT_PATH's three files and throws a bare ENOENT when one is missing (even for plain HTTP, or a DOCKER_TLS
 * setup without a client certificate, which the CLI allows). The endpoint is resolved already, so the modem is made
 * with DOCKER_HOST hidden; the constructor is synchronous and nothing else runs meanwhile.
 */
function newDocker(options: Docker.DockerOptions): Docker {
  const host = process.env.DOCKER_HOST;
  delete process.env.DOCKER_HOST;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- on first use, see above
    const Dockerode = require('dockerode') as typeof Docker;
    return new Dockerode(options);
  } finally {
    if (host !== undefined) process.env.DOCKER_HOST = host;
  }
}

/**
 * The engine the docker CLI would use, found the way it finds it: `DOCKER_HOST` (with `DOCKER_TLS`,
 * `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`), else `DOCKER_CONTEXT`, else `currentContext` in `config.json` (in
 * `DOCKER_CONFIG` or `~/.docker`), else the default socket or pipe; Docker Desktop's `~/.docker/run/docker.sock`
 * when the default socket is absent. Throws {@link EngineSettingsError} in one line for settings it cannot use.
 */
export function connectEngine(env: NodeJS.ProcessEnv = process.env, options: Omit<ResolveEndpointOptions, 'env'> = {}): Docker {
  return dockerFor(resolveEngineEndpoint({ ...options, env }), env);
}

const unreachableCodes = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'EACCES',
  'EPERM',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'ECONNRESET',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** Node's codes for a TLS handshake that failed: the certificate checks (OpenSSL's names) and protocol alerts. */
const tlsCodes = new Set([
  'EPROTO',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function isTlsFailure(code: string): boolean {
  return tlsCodes.has(code) || code.startsWith('ERR_SSL_');
}

/** The SSH login to an `ssh://` engine's host failed: who logged in, and with which ssh-agent. */
export interface SshLoginFailure {
  user?: string;
  /** SSH_AUTH_SOCK: docker-modem logs in only with the keys of that agent. */
  agentSocket?: string;
  /** The agent itself failed (no socket there, or it would not sign), not the host's refusal. */
  agentFailed: boolean;
}

/** An `ssh://` engine's host offered a key that known_hosts does not list for it (or lists as revoked). */
export interface SshHostKeyFailure {
  hostKey: HostKeyRefusal;
}

/**
 * Where reaching the engine failed: the connection, the TLS handshake, the SSH host's key, the SSH login, or
 * `docker system dial-stdio`, which an `ssh://` engine's host runs once the login is done.
 */
export type UnreachableStage = 'connect' | 'tls' | 'ssh-dial' | SshHostKeyFailure | SshLoginFailure;

/**
 * The engine could not be reached at all (no socket, refused, no permission, a failed TLS handshake, an SSH login the
 * host refused, no engine behind the SSH login).
 */
export class EngineUnreachableError extends Error {
  /**
   * @param address where it was looked for (`tcp://127.0.0.1:2376`)
   * @param cause Node's (or ssh2's) words for the failure
   * @param origin where the address came from, as in {@link EngineEndpoint.origin} (`from DOCKER_HOST`)
   * @param stage what failed
   */
  constructor(address: string, cause: string, origin?: string, stage: UnreachableStage = 'connect') {
    const where = `the Docker engine at ${address}${origin ? ` (${origin})` : ''}`;
    super(unreachableMessage(where, cause, stage));
    this.name = 'EngineUnreachableError';
  }
}

function unreachableMessage(where: string, cause: string, stage: UnreachableStage): string {
  if (stage === 'connect') return `${where} is not reachable (${cause}): is it running, and may this agent use it?`;
  if (stage === 'tls') return `${where} refused the TLS connection (${cause}): check the CA and the client certificate and key`;
  if (stage === 'ssh-dial') {
    return `${where} is not reachable (${cause}): the SSH login worked, but 'docker system dial-stdio' did not connect there: does that host have the docker CLI (18.09 or later) and a running engine the SSH user may use?`;
  }
  if ('hostKey' in stage) return `${where}: ${describeHostKeyRefusal(stage.hostKey)}`;
  const { user, agentSocket, agentFailed } = stage;
  const as = user ? ` as ${user}` : '';
  if (!agentSocket) {
    return `${where} refused the SSH login${as} (${cause}): SSH_AUTH_SOCK is not set, and the tasks log in to an ssh:// engine only with the keys of an ssh-agent: add the key to one (ssh-add) and set SSH_AUTH_SOCK to its socket`;
  }
  if (agentFailed) {
    return `${where}: the SSH login${as} failed in the ssh-agent at SSH_AUTH_SOCK ${agentSocket} (${cause}): is the agent running, and is that its socket?`;
  }
  return `${where} refused the SSH login${as} (${cause}): add a key it accepts${user ? ` for ${user}` : ''} to the ssh-agent at SSH_AUTH_SOCK ${agentSocket}`;
}

/** True for the errors Node raises when the engine's socket or port does not answer. */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return typeof code === 'string' && (unreachableCodes.has(code) || isTlsFailure(code));
}

/** What failed to reach the engine, for {@link unreachable}; undefined when the error is not about reaching it. */
function failedStage(docker: Docker, error: unknown): UnreachableStage | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  const modem = docker.modem as { protocol?: string; username?: string; sshOptions?: { agent?: unknown } };
  if (modem.protocol === 'ssh') {
    // ssh2 marks its own failures with a level: the socket (`client-socket`, with Node's code), `client-timeout`,
    // `client-dns`, the key exchange (`handshake`, `protocol`), the login (`client-authentication`), the ssh-agent.
    const level = (error as { level?: unknown } | undefined)?.level;
    // The host-key check said no during the key exchange; ssh2's error says only "Host denied (verification failed)".
    const refusal = hostKeyChecks.get(docker)?.refusal;
    if (level === 'handshake' && refusal && /^Host denied/.test(String((error as { message?: unknown }).message))) {
      return { hostKey: refusal };
    }
    if (level === 'client-authentication' || level === 'agent') {
      const agent = modem.sshOptions?.agent;
      return { user: modem.username, agentSocket: typeof agent === 'string' && agent ? agent : undefined, agentFailed: level === 'agent' };
    }
    if (typeof level === 'string') return 'connect';
    // Without a level the failure came after the login, on the channel that runs `docker system dial-stdio`: it
    // could not be opened (`(SSH) Channel open failure`), or closed before the engine answered (socket hang up).
    const message = (error as { message?: unknown } | undefined)?.message;
    if ((typeof code === 'string' && unreachableCodes.has(code)) || (typeof message === 'string' && message.startsWith('(SSH) '))) {
      return 'ssh-dial';
    }
    return undefined;
  }
  if (!isUnreachable(error)) return undefined;
  return isTlsFailure(code as string) ? 'tls' : 'connect';
}

/** The HTTP status of a failed engine call, when the engine answered. */
export function engineStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: number } | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * The engine's own words for a failed call: its JSON `message`, without dockerode's `(HTTP code 404) no such
 * container -` prefix; Node's message for a transport error.
 */
export function engineMessage(error: unknown): string {
  const e = error as { json?: unknown; message?: string; code?: string } | undefined;
  const json = e?.json;
  if (json && typeof json === 'object' && typeof (json as { message?: unknown }).message === 'string') {
    return (json as { message: string }).message.trim();
  }
  if (typeof json === 'string' && json.trim()) return json.trim();
  if (Buffer.isBuffer(json) && json.length) return json.toString('utf8').trim();
  const message = e?.message ?? String(error);
  return message.replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, '').trim();
}

/** The engine could not be reached, as one line naming where it was looked for; undefined for other errors. */
export function unreachable(docker: Docker, error: unknown): EngineUnreachableError | undefined {
  const stage = failedStage(docker, error);
  if (!stage) return undefined;
  const text = (error as Error).message || String((error as { code?: unknown }).code);
  return new EngineUnreachableError(engineAddress(docker), opensslReason(text) ?? oneLine(text), endpoints.get(docker)?.origin, stage);
}

/** OpenSSL's reason from its error string (`…:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:…`). */
function opensslReason(message: string | undefined): string | undefined {
  return message?.match(/:SSL routines:[^:]*:([^:]+):/)?.[1];
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').trim();
}

/** Rethrows transport failures as {@link EngineUnreachableError}; other errors pass through. */
export function rethrowUnreachable(docker: Docker, error: unknown): never {
  throw unreachable(docker, error) ?? error;
}

/** What the build and run code needs to know about the engine. */
export interface EngineInfo {
  version: string;
  apiVersion: string;
  os: string;
  /** The engine can build with BuildKit (`/build?version=2`): Linux engines from API 1.39 (Docker 18.09). */
  buildkit: boolean;
}

export async function describeEngine(docker: Docker): Promise<EngineInfo> {
  let v: Docker.DockerVersion;
  try {
    v = await docker.version();
  } catch (error) {
    rethrowUnreachable(docker, error);
  }
  const apiVersion = v.ApiVersion ?? '';
  const [major, minor] = apiVersion.split('.').map((part) => Number(part));
  const os = (v.Os ?? '').toLowerCase();
  return {
    version: v.Version ?? '',
    apiVersion,
    os,
    buildkit: os === 'linux' && (major > 1 || (major === 1 && minor >= 39)),
  };
}

/** `registry-1.docker.io` and the other Docker Hub names → `docker.io`; other hosts lower-cased (reference/hosts.ts). */
export function canonicalRegistryHost(host: string): string {
  return registryHostFromUrl(host) ?? host.trim().toLowerCase();
}

/** The server address the engine expects in an auth config: Docker Hub still goes by its v1 index URL. */
export function engineServerAddress(host: string): string {
  return canonicalRegistryHost(host) === 'docker.io' ? 'https://index.docker.io/v1/' : canonicalRegistryHost(host);
}

/**
 * The header value the engine takes credentials from (`X-Registry-Auth`: base64url of the auth config JSON;
 * `X-Registry-Config`: base64 of a map of them). Encoded here rather than by dockerode so the exact value can be
 * registered as a secret: an HTTP debug trace (DEBUG=modem) would otherwise print it unmasked.
 */
export function encodeRegistryHeader(value: object, log: Log, urlSafe: boolean): string {
  const base64 = Buffer.from(JSON.stringify(value)).toString('base64');
  const encoded = urlSafe ? base64.replace(/\+/g, '-').replace(/\//g, '_') : base64;
  log.secret(encoded);
  return encoded;
}

/** The login for `host` among `logins`, Docker Hub aliases matched. */
export function loginFor<L extends { host: string }>(logins: readonly L[] | undefined, host: string): L | undefined {
  const wanted = canonicalRegistryHost(host);
  return logins?.find((login) => canonicalRegistryHost(login.host) === wanted);
}
