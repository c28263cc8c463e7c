import type { NetworkDispatcher } from './dispatcher';

/*
 * How outbound calls reach their servers: which proxy (if any) and which certificates. The pipeline adapter builds
 * NetworkOptions from the agent's settings; the registry client, token requests and the Azure DevOps REST client take
 * them (errors.ts turns their failures into one line naming the setting to fix). Nothing here knows the agent.
 * Node's own fetch, http and tls do the work, not the undici package: see dispatcher.ts (the .vsix size budget).
 */

/** A forward proxy. */
export interface ProxyServer {
  /** `http://host:port` or `https://host:port`: scheme, host and port only (credentials go in the fields below). */
  url: string;
  username?: string;
  password?: string;
  /** The setting that names this proxy, for messages: `Agent.ProxyUrl`, `HTTPS_PROXY`. */
  setting: string;
  /** The settings that hold its credentials, for a 407: `Agent.ProxyUsername and Agent.ProxyPassword`. */
  credentialsSetting: string;
}

/** Certificates: file paths as the agent gives them (and as azure-devops-node-api takes them). */
export interface TlsSettings {
  /** PEM file of CAs trusted on top of Node's own roots. */
  caFile?: string;
  /** PEM client certificate, offered to servers that ask for one. */
  certFile?: string;
  /** PEM private key of `certFile` (PKCS#8 or traditional, maybe encrypted with `passphrase`). */
  keyFile?: string;
  passphrase?: string;
  /** False only when the user chose to skip certificate validation. Default true. */
  rejectUnauthorized?: boolean;
}

/** What each setting is called where the user sets it, for messages. */
export interface NetworkSettingNames {
  /** Where a proxy would be set, e.g. `Agent.ProxyUrl (or HTTPS_PROXY)`. */
  proxy: string;
  /** Where hosts are sent around the proxy, e.g. `Agent.ProxyBypassList`. */
  bypass: string;
  ca: string;
  skipCertValidation: string;
  clientCertificate: string;
}

/**
 * How long a request may wait at each stage before it fails. The one place for every outbound call's time limits
 * (registry API, token services, Azure DevOps REST): a host that accepts the connection and never answers fails
 * within `connectMs + firstByteMs`, naming the host.
 */
export interface NetworkTimeouts {
  /** TCP connect and TLS handshake (through a proxy: the tunnel too). */
  connectMs: number;
  /** From the request sent (its body included) to the first byte of the response. */
  firstByteMs: number;
  /** Longest silence inside a response body, e.g. a blob download that stalls. */
  idleMs: number;
}

/** A connection opens in milliseconds on any network that works, even across continents; 10 s is a host not there. */
export const CONNECT_TIMEOUT_MS = 10_000;
/**
 * Registries answer manifest, HEAD, mount and upload-completion requests in well under a second (distribution hashes
 * an upload while it arrives), token services likewise: a server silent for 30 s after the request is not coming back.
 */
export const FIRST_BYTE_TIMEOUT_MS = 30_000;
/** A response body that stops for 30 s is a dead connection; the retry policy starts the download again. */
export const IDLE_TIMEOUT_MS = 30_000;
export const DEFAULT_TIMEOUTS: NetworkTimeouts = {
  connectMs: CONNECT_TIMEOUT_MS,
  firstByteMs: FIRST_BYTE_TIMEOUT_MS,
  idleMs: IDLE_TIMEOUT_MS,
};

/** How outbound calls go out. Empty (or undefined): direct, with Node's own certificate store. */
export interface NetworkOptions {
  /** Time limits; each missing field takes its DEFAULT_TIMEOUTS value. */
  timeouts?: Partial<NetworkTimeouts>;
  /** The proxy for https:// URLs. */
  httpsProxy?: ProxyServer;
  /** The proxy for http:// URLs. */
  httpProxy?: ProxyServer;
  /** Hosts sent direct: regular expressions tested, case-insensitively, against `scheme://host[:port]` (the agent's rule). */
  bypass?: readonly RegExp[];
  /** Hosts sent direct, as NO_PROXY lists them (see `matchesNoProxy`). */
  noProxy?: string;
  tls?: TlsSettings;
  settings?: Partial<NetworkSettingNames>;
}

const dispatchers = new WeakMap<NetworkOptions, NetworkDispatcher>();
const NO_OPTIONS: NetworkOptions = {};

/**
 * A fetch that honours `options`: Node's fetch with a dispatcher that routes each request (redirects included)
 * direct or through the proxy, applies the certificates and enforces the time limits. Always the dispatcher, even
 * with no proxy or certificate set, so every call has the same limits. One dispatcher (one set of kept-alive
 * connections) per options object.
 */
export function networkFetch(options: NetworkOptions | undefined): typeof globalThis.fetch {
  const key = options ?? NO_OPTIONS;
  let dispatcher = dispatchers.get(key);
  if (!dispatcher) {
    // Loaded with the first dispatcher, not as the task starts: it loads Node's http, https and tls (bench/startup).
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
    const { NetworkDispatcher: Dispatcher } = require('./dispatcher') as typeof import('./dispatcher');
    dispatcher = new Dispatcher(key);
    dispatchers.set(key, dispatcher);
  }
  const chosen = dispatcher;
  // `dispatcher` is undici's RequestInit extension, which Node's fetch honours (Node 18+).
  return (input, init) => globalThis.fetch(input, { ...init, dispatcher: chosen } as RequestInit & { dispatcher: unknown });
}
