import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// Where the docker CLI finds its engine, and in which order (docker/cli, cli/command/cli.go resolveContextName and
// getDockerEndPoint; cli/flags/options.go; opts/hosts.go ParseHost):
//   1. DOCKER_HOST, when not empty: the "default" context with that host. It wins over DOCKER_CONTEXT as well as
//      over currentContext ("To preserve backward-compatibility with the pre-contexts behavior, the default context
//      is used if ... DOCKER_HOST is set to a non-empty value", checked before DOCKER_CONTEXT).
//   2. DOCKER_CONTEXT, when not empty.
//   3. currentContext in config.json, in DOCKER_CONFIG or ~/.docker.
//   4. The "default" context: /var/run/docker.sock (//./pipe/docker_engine on Windows), or tcp://localhost:2376
//      when TLS is asked for by DOCKER_TLS / DOCKER_TLS_VERIFY.
// A named context lives in <config>/contexts/meta/<sha256 of its name>/meta.json (cli/context/store
// metadatastore.go), its TLS files in <config>/contexts/tls/<sha256>/docker/{ca,cert,key}.pem (tlsstore.go).
// Docker Desktop's per-user socket, ~/.docker/run/docker.sock, is not part of the CLI's search (Desktop points a
// context or a /var/run symlink at it): it is used here only when the default socket is absent.

/** TLS for a `tcp://` engine, with the PEM bytes read from the files the docker CLI reads. */
export interface EngineTls {
  /** Check the engine's certificate against `ca` (false: DOCKER_TLS without DOCKER_TLS_VERIFY, or SkipTLSVerify). */
  verify: boolean;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** The folder the files came from, for messages. */
  folder: string;
}

/** The engine to talk to, and where that choice came from. */
export interface EngineEndpoint {
  /** The address as the docker CLI writes it: `unix:///var/run/docker.sock`, `tcp://host:2376`, `npipe:////./pipe/docker_engine`, `ssh://user@host`. */
  host: string;
  /** For `tcp://` addresses that use TLS. */
  tls?: EngineTls;
  /**
   * Where the address came from, worded to follow "the Docker engine at <host> ": `from DOCKER_HOST`,
   * `from docker context 'remote', named by DOCKER_CONTEXT, in /home/u/.docker/contexts/meta/…/meta.json`,
   * `at the default socket (no DOCKER_HOST, no docker context; no Docker Desktop socket at …)`.
   */
  origin: string;
}

/** The engine's settings are unusable: a bad DOCKER_HOST, a missing or malformed context, missing TLS files. */
export class EngineSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineSettingsError';
  }
}

/** The file reads the resolution needs, injected so tests need neither an engine nor a home folder. */
export interface EndpointFiles {
  /** The file's bytes, or undefined when there is no such file; other failures throw. */
  read(file: string): Buffer | undefined;
  /** Whether anything (a socket) exists at `file`. */
  exists(file: string): boolean;
}

export interface ResolveEndpointOptions {
  env?: NodeJS.ProcessEnv;
  /** The user's home folder; default `os.homedir()`. */
  home?: string;
  platform?: NodeJS.Platform;
  files?: EndpointFiles;
}

export const DEFAULT_SOCKET = '/var/run/docker.sock';
export const DEFAULT_PIPE = '//./pipe/docker_engine';
/** Where the CLI goes when TLS is asked for and no host is given (opts/hosts.go defaultTLSHost). */
const DEFAULT_TLS_HOST = 'tcp://localhost:2376';
const DEFAULT_CONTEXT = 'default';

/** Reads with `fs`; a missing file (or a missing folder on the way) is undefined. */
export const diskFiles: EndpointFiles = {
  read(file) {
    try {
      return fs.readFileSync(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw error;
    }
  },
  exists: (file) => fs.existsSync(file),
};

/** The folder of config.json and contexts/: DOCKER_CONFIG, else ~/.docker (docker/cli cli/config/config.go Dir). */
export function dockerConfigDir(env: NodeJS.ProcessEnv, home: string): string {
  return env.DOCKER_CONFIG?.trim() || path.join(home, '.docker');
}

/** The folder name of a context in the context store: the hex SHA-256 of its name. */
export function contextId(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

/** Resolves the engine as the docker CLI would, reading config.json, the context store and TLS files. */
export function resolveEngineEndpoint(options: ResolveEndpointOptions = {}): EngineEndpoint {
  const env = options.env ?? process.env;
  const home = options.home ?? os.homedir();
  const platform = options.platform ?? process.platform;
  const files = options.files ?? diskFiles;
  const configDir = dockerConfigDir(env, home);

  if (env.DOCKER_HOST?.trim()) return defaultEndpoint({ env, home, platform, files, configDir }, 'from DOCKER_HOST');
  const named = contextName(env, configDir, files);
  if (!named) return defaultEndpoint({ env, home, platform, files, configDir }, 'no DOCKER_HOST, no docker context');
  if (named.name === DEFAULT_CONTEXT)
    return defaultEndpoint({ env, home, platform, files, configDir }, `docker context 'default', named by ${named.namedBy}`);
  return contextEndpoint(named.name, named.namedBy, { env, home, platform, files, configDir });
}

interface Resolution {
  env: NodeJS.ProcessEnv;
  home: string;
  platform: NodeJS.Platform;
  files: EndpointFiles;
  configDir: string;
}

function contextName(env: NodeJS.ProcessEnv, configDir: string, files: EndpointFiles): { name: string; namedBy: string } | undefined {
  const fromEnv = env.DOCKER_CONTEXT?.trim();
  if (fromEnv) return { name: fromEnv, namedBy: 'DOCKER_CONTEXT' };
  const configFile = path.join(configDir, 'config.json');
  const config = readJson(files, configFile, (problem) => `${configFile} ${problem}: fix it, or set DOCKER_CONFIG to another folder`);
  if (config === undefined) return undefined;
  const current = field(config, 'currentContext');
  if (current !== undefined && typeof current !== 'string') {
    throw new EngineSettingsError(`${configFile}: currentContext must be a context name, not ${JSON.stringify(current)}`);
  }
  return current?.trim() ? { name: current.trim(), namedBy: `currentContext in ${configFile}` } : undefined;
}

/** The "default" context: DOCKER_HOST and the TLS variables, else the local socket; `why` words how it was chosen. */
function defaultEndpoint(r: Resolution, why: string): EngineEndpoint {
  const { env, platform, files } = r;
  const verify = Boolean(env.DOCKER_TLS_VERIFY);
  const useTls = verify || Boolean(env.DOCKER_TLS);
  const given = env.DOCKER_HOST?.trim();
  let host: string;
  let origin: string;
  if (given) {
    host = parseEngineHost(given, 'DOCKER_HOST is');
    origin = why;
  } else if (useTls) {
    host = DEFAULT_TLS_HOST;
    origin = `from ${verify ? 'DOCKER_TLS_VERIFY' : 'DOCKER_TLS'} without DOCKER_HOST, the docker CLI's default TLS address (${why})`;
  } else if (platform === 'win32') {
    return { host: `npipe://${DEFAULT_PIPE}`, origin: `at the default named pipe (${why})` };
  } else {
    const desktop = path.join(r.home, '.docker', 'run', 'docker.sock');
    if (!files.exists(DEFAULT_SOCKET) && files.exists(desktop)) {
      return { host: `unix://${desktop}`, origin: `at Docker Desktop's socket (${why}; ${DEFAULT_SOCKET} does not exist)` };
    }
    return { host: `unix://${DEFAULT_SOCKET}`, origin: `at the default socket (${why}; no Docker Desktop socket at ${desktop} either)` };
  }
  if (!useTls || !host.startsWith('tcp://')) return { host, origin };

  const folder = env.DOCKER_CERT_PATH?.trim() || r.configDir;
  const setting = verify ? 'DOCKER_TLS_VERIFY' : 'DOCKER_TLS';
  const read = (name: string) => readFile(files, path.join(folder, name));
  const ca = read('ca.pem');
  // The CLI reads ca.pem even when it does not verify; here it is required only when it is used.
  if (verify && !ca) {
    throw new EngineSettingsError(
      `${setting} is set but ${path.join(folder, 'ca.pem')} does not exist: set DOCKER_CERT_PATH to the folder with ca.pem, cert.pem and key.pem`,
    );
  }
  const { cert, key } = clientPair(read('cert.pem'), read('key.pem'), folder, 'DOCKER_CERT_PATH');
  return {
    host,
    origin: `${origin}, TLS${verify ? '' : ' without verification'} with the files in ${folder}`,
    tls: { verify, ca, cert, key, folder },
  };
}

function contextEndpoint(name: string, namedBy: string, r: Resolution): EngineEndpoint {
  const id = contextId(name);
  const metaFile = path.join(r.configDir, 'contexts', 'meta', id, 'meta.json');
  const which = `docker context '${name}' (named by ${namedBy})`;
  const meta = readJson(r.files, metaFile, (problem) => `${which}: ${metaFile} ${problem}`);
  if (meta === undefined) {
    throw new EngineSettingsError(
      `${which} does not exist: there is no ${metaFile}; create it with 'docker context create', or name another context`,
    );
  }
  const docker = field(field(meta, 'Endpoints'), 'docker');
  if (!isObject(docker)) throw new EngineSettingsError(`${which} has no docker endpoint in ${metaFile}`);
  const hostText = field(docker, 'Host');
  if (hostText !== undefined && typeof hostText !== 'string') {
    throw new EngineSettingsError(`${which}: Endpoints.docker.Host in ${metaFile} must be an address, not ${JSON.stringify(hostText)}`);
  }
  const skipVerify = field(docker, 'SkipTLSVerify') === true;
  // An empty Host is the API client's default address (the docker CLI's client.DefaultDockerHost).
  const host = hostText?.trim()
    ? parseEngineHost(hostText.trim(), `${which}: Endpoints.docker.Host in ${metaFile} is`)
    : r.platform === 'win32'
      ? `npipe://${DEFAULT_PIPE}`
      : `unix://${DEFAULT_SOCKET}`;
  const origin = `from docker context '${name}', named by ${namedBy}, in ${metaFile}`;
  if (!host.startsWith('tcp://')) return { host, origin };

  const folder = path.join(r.configDir, 'contexts', 'tls', id, 'docker');
  const read = (file: string) => readFile(r.files, path.join(folder, file));
  const ca = read('ca.pem');
  const { cert, key } = clientPair(read('cert.pem'), read('key.pem'), folder, `${which}'s TLS folder`);
  // docker/cli cli/context/docker/load.go tlsConfig: no TLS files and no SkipTLSVerify means plain HTTP.
  if (!ca && !cert && !skipVerify) return { host, origin };
  return {
    host,
    origin: `${origin}, TLS${skipVerify ? ' without verification' : ''} with the files in ${folder}`,
    tls: { verify: !skipVerify, ca, cert, key, folder },
  };
}

/**
 * A docker host address in the CLI's canonical form (docker/cli opts/hosts.go parseDockerDaemonHost): `host:port`
 * and `tcp://` get port 2375 when none is given, a bare path is a unix socket, `unix://` and `npipe://` without a
 * path are the defaults. `setting` names where the address came from, for the error ("DOCKER_HOST is").
 */
export function parseEngineHost(address: string, setting: string): string {
  const bad = (why: string) =>
    new EngineSettingsError(
      `${setting} '${redactHost(address)}', which ${why}: use unix:///path/docker.sock, tcp://host:port, npipe:////./pipe/name or ssh://user@host`,
    );
  const at = address.indexOf('://');
  let scheme: string;
  let rest: string;
  if (at < 0) {
    scheme = address.startsWith('/') || address.startsWith('./') ? 'unix' : 'tcp';
    rest = address;
  } else {
    scheme = address.slice(0, at).toLowerCase();
    rest = address.slice(at + 3);
  }
  switch (scheme) {
    case 'unix':
      if (rest.includes('://')) throw bad('is not an engine address');
      return `unix://${rest || DEFAULT_SOCKET}`;
    case 'npipe':
      if (rest.includes('://')) throw bad('is not an engine address');
      return `npipe://${rest || DEFAULT_PIPE}`;
    case 'ssh': {
      let url: URL;
      try {
        url = new URL(address);
      } catch {
        throw bad('is not an engine address');
      }
      if (!url.hostname) throw bad('names no host');
      // docker/cli connhelper/ssh refuses it too ("plain-text password is not supported"): keys come from the agent.
      if (url.password)
        throw bad('holds a password, which an ssh:// engine cannot log in with (a key in the ssh-agent at SSH_AUTH_SOCK can)');
      return address;
    }
    case 'tcp': {
      if (!rest) return 'tcp://localhost:2375';
      if (rest.includes('://')) throw bad('is not an engine address');
      let url: URL;
      try {
        url = new URL(`tcp://${rest}`);
      } catch {
        throw bad('is not an engine address');
      }
      const hostname = url.hostname || 'localhost';
      const port = url.port || '2375';
      const suffix = url.pathname && url.pathname !== '/' ? url.pathname : '';
      return `tcp://${hostname}:${port}${suffix}`;
    }
    case 'fd':
      throw bad('is a socket handed to the engine by systemd, which a client cannot use');
    default:
      throw bad('is not an engine address');
  }
}

/** The address without a password in its user info, for messages. */
export function redactHost(address: string): string {
  return address.replace(/^([a-z]+:\/\/[^/@:]*):[^/@]*@/i, '$1:***@');
}

function clientPair(cert: Buffer | undefined, key: Buffer | undefined, folder: string, where: string) {
  if (cert && !key)
    throw new EngineSettingsError(`${where} has cert.pem but no key.pem (${folder}): put the client key beside its certificate`);
  if (key && !cert)
    throw new EngineSettingsError(`${where} has key.pem but no cert.pem (${folder}): put the client certificate beside its key`);
  return { cert, key };
}

function readFile(files: EndpointFiles, file: string): Buffer | undefined {
  try {
    return files.read(file);
  } catch (error) {
    throw new EngineSettingsError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/** The parsed JSON of `file`, undefined when there is none; `complain` words the error for an unusable file. */
function readJson(files: EndpointFiles, file: string, complain: (problem: string) => string): unknown {
  let bytes: Buffer | undefined;
  try {
    bytes = files.read(file);
  } catch (error) {
    throw new EngineSettingsError(complain(`cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`));
  }
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new EngineSettingsError(complain(`is not valid JSON (${(error as Error).message.split('\n')[0]})`));
  }
  if (!isObject(value)) throw new EngineSettingsError(complain('is not a JSON object'));
  return value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A member by name, ignoring case as Go's encoding/json does when the CLI reads these files. */
function field(value: unknown, name: string): unknown {
  if (!isObject(value)) return undefined;
  if (name in value) return value[name];
  const lower = name.toLowerCase();
  const key = Object.keys(value).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : value[key];
}
