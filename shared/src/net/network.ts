import { NetworkDispatcher } from './dispatcher';

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

/** How outbound calls go out. Empty (or undefined): direct, with Node's own certificate store. */
export interface NetworkOptions {
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

/** True when the options change anything: a proxy, or certificate settings. */
function needsDispatcher(options: NetworkOptions | undefined): options is NetworkOptions {
  return Boolean(options && (options.httpsProxy || options.httpProxy || options.tls));
}

/**
 * A fetch that honours `options`: Node's global fetch itself when they change nothing, else Node's fetch with a
 * dispatcher that routes each request (redirects included) direct or through the proxy and applies the certificates.
 * One dispatcher (one set of kept-alive connections) per options object.
 */
export function networkFetch(options: NetworkOptions | undefined): typeof globalThis.fetch {
  if (!needsDispatcher(options)) return (input, init) => globalThis.fetch(input, init);
  let dispatcher = dispatchers.get(options);
  if (!dispatcher) {
    dispatcher = new NetworkDispatcher(options);
    dispatchers.set(options, dispatcher);
  }
  const chosen = dispatcher;
  // `dispatcher` is undici's RequestInit extension, which Node's fetch honours (Node 18+).
  return (input, init) => globalThis.fetch(input, { ...init, dispatcher: chosen } as RequestInit & { dispatcher: unknown });
}
