import * as fs from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import type { Log } from '../log';

/** Credentials for one registry host, handed to the engine per call (never written to a Docker config file). */
export interface RegistryLogin {
  /** `host[:port]` as in image references; Docker Hub is `docker.io`. */
  host: string;
  credentials: { username: string; password: string };
}

/** Where `docker` talks to its engine, for messages: `unix:///var/run/docker.sock`, `https://host:2376`. */
export function engineAddress(docker: Docker): string {
  const modem = docker.modem as { socketPath?: unknown; protocol?: string; host?: string; port?: string | number };
  if (typeof modem.socketPath === 'string') return `unix://${modem.socketPath}`;
  return `${modem.protocol ?? 'http'}://${modem.host ?? 'localhost'}${modem.port ? `:${modem.port}` : ''}`;
}

/**
 * The engine named by `DOCKER_HOST` (unix://, tcp:// with `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`, ssh://), or the
 * default socket, as the docker CLI resolves it.
 */
export function connectEngine(env: NodeJS.ProcessEnv = process.env): Docker {
  const host = env.DOCKER_HOST?.trim();
  if (!host) return new Docker({ socketPath: '/var/run/docker.sock' });
  if (host.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length) || '/var/run/docker.sock' });
  if (host.startsWith('npipe://')) return new Docker({ socketPath: host.slice('npipe://'.length) });
  let url: URL;
  try {
    url = new URL(host.includes('://') ? host : `tcp://${host}`);
  } catch {
    throw new Error(`DOCKER_HOST '${host}' is not an engine address (unix:///path, tcp://host:port or ssh://user@host)`);
  }
  if (url.protocol === 'ssh:') {
    return new Docker({ protocol: 'ssh', host: url.hostname, port: url.port || 22, username: url.username || undefined });
  }
  const tls = env.DOCKER_TLS_VERIFY === '1' || url.port === '2376';
  const certs = env.DOCKER_CERT_PATH;
  return new Docker({
    protocol: tls ? 'https' : 'http',
    host: url.hostname,
    port: url.port || (tls ? 2376 : 2375),
    ...(tls && certs
      ? {
          ca: fs.readFileSync(path.join(certs, 'ca.pem')),
          cert: fs.readFileSync(path.join(certs, 'cert.pem')),
          key: fs.readFileSync(path.join(certs, 'key.pem')),
        }
      : {}),
  });
}

const unreachableCodes = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'ECONNRESET']);

/** The engine could not be reached at all (no socket, refused, no permission). */
export class EngineUnreachableError extends Error {
  constructor(address: string, cause: string) {
    super(`the Docker engine at ${address} is not reachable (${cause}): is it running, and may this agent use it?`);
    this.name = 'EngineUnreachableError';
  }
}

/** True for the errors Node raises when the engine's socket or port does not answer. */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return typeof code === 'string' && unreachableCodes.has(code);
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
  return isUnreachable(error) ? new EngineUnreachableError(engineAddress(docker), (error as Error).message) : undefined;
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

const dockerHubAliases = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** `registry-1.docker.io` and the other Docker Hub names → `docker.io`; other hosts lower-cased. */
export function canonicalRegistryHost(host: string): string {
  const h = host.trim().toLowerCase().replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return dockerHubAliases.has(h) ? 'docker.io' : h;
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
export function loginFor(logins: readonly RegistryLogin[] | undefined, host: string): RegistryLogin | undefined {
  const wanted = canonicalRegistryHost(host);
  return logins?.find((login) => canonicalRegistryHost(login.host) === wanted);
}
