import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import { proxyFor } from './route';
import { NetworkTimeoutError, ProxyError } from './errors';
import { DEFAULT_TIMEOUTS, type NetworkOptions, type NetworkTimeouts, type ProxyServer, type TlsSettings } from './network';

/*
 * Proxies and certificates under Node's own fetch, on Node's own http/https/tls: fetch keeps doing HTTP (redirects,
 * decoding, aborts) and hands each request to this dispatcher, which opens the connection: direct, through a CONNECT
 * tunnel (https://), or as a forward-proxy request (http://). Not undici's ProxyAgent: the npm package would add
 * ~100 KB (compressed) to each of four task bundles, past the .vsix budget; what Node ships already does the work.
 * The time limits of network.ts (connect, first byte, idle) are enforced here, for every request.
 */

/** The part of undici's dispatch options that Node's fetch passes (Node 20: undici 6; Node 24: undici 7). */
interface DispatchOptions {
  origin: string | URL;
  path: string;
  method: string;
  headers?: Record<string, string | string[] | undefined> | string[] | Iterable<[string, string]> | null;
  body?: string | Uint8Array | AsyncIterable<Uint8Array> | null;
}

/** The legacy undici handler Node's fetch passes to `dispatch` (both undici 6 and 7 speak it). */
interface DispatchHandler {
  onConnect?(abort: (reason?: Error) => void): void;
  onResponseStarted?(): void;
  onHeaders?(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: Buffer[] | null): void;
  onError?(error: Error): void;
}

/** TLS options for connections to servers (and to an https:// proxy). */
function tlsOptions(settings: TlsSettings | undefined): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = { rejectUnauthorized: settings?.rejectUnauthorized ?? true };
  if (settings?.caFile) {
    // Added to Node's roots, not instead of them: a CA for an internal registry must not cut off public ones.
    const defaults = (tls as { getCACertificates?: (kind: string) => string[] }).getCACertificates?.('default') ?? [
      ...tls.rootCertificates,
    ];
    options.ca = [...defaults, fs.readFileSync(settings.caFile, 'utf8')];
  }
  if (settings?.certFile) {
    options.cert = fs.readFileSync(settings.certFile, 'utf8');
    if (settings.keyFile) options.key = fs.readFileSync(settings.keyFile, 'utf8');
    if (settings.passphrase) options.passphrase = settings.passphrase;
  }
  return options;
}

function proxyAuthorization(proxy: ProxyServer): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  return `Basic ${Buffer.from(`${proxy.username ?? ''}:${proxy.password ?? ''}`).toString('base64')}`;
}

function connectTarget(proxy: ProxyServer, proxyTls: tls.ConnectionOptions): http.RequestOptions {
  const url = new URL(proxy.url);
  return {
    protocol: url.protocol,
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port || (url.protocol === 'https:' ? 443 : 80),
    ...(url.protocol === 'https:' ? proxyTls : {}),
  };
}

/** Opens a CONNECT tunnel to `host:port` through `proxy`; rejects with a ProxyError naming the proxy's setting. */
function openTunnel(proxy: ProxyServer, proxyTls: tls.ConnectionOptions, host: string, port: number): Promise<net.Socket> {
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const headers: Record<string, string> = { host: authority };
  const authorization = proxyAuthorization(proxy);
  if (authorization) headers['proxy-authorization'] = authorization;
  const target = connectTarget(proxy, proxyTls);
  const request = (target.protocol === 'https:' ? https : http).request({
    ...target,
    method: 'CONNECT',
    path: authority,
    headers,
    agent: false,
  });
  return new Promise((resolve, reject) => {
    // Node reports every answer to CONNECT here, whatever its status.
    request.once('connect', (response: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (response.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
        return;
      }
      socket.destroy();
      reject(new ProxyError(proxy, authority, { status: response.statusCode, statusText: response.statusMessage }));
    });
    request.on('error', (error) => reject(new ProxyError(proxy, authority, { cause: error })));
    request.end();
  });
}

/** An https.Agent whose connections are TLS inside a CONNECT tunnel through `proxy`. */
class TunnelingAgent extends https.Agent {
  constructor(
    private readonly proxy: ProxyServer,
    private readonly proxyTls: tls.ConnectionOptions,
    options: https.AgentOptions,
  ) {
    super(options);
  }

  override createConnection(options: https.RequestOptions, callback?: (error: Error | null, socket: net.Socket) => void): undefined {
    const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
    openTunnel(this.proxy, this.proxyTls, host, Number(options.port ?? 443)).then(
      (socket) => callback?.(null, tls.connect({ ...(options as tls.ConnectionOptions), socket })),
      (error: Error) => callback?.(error, undefined as unknown as net.Socket),
    );
    return undefined;
  }
}

function headerRecord(headers: DispatchOptions['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!headers) return out;
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) out[headers[i]] = headers[i + 1];
  } else if (Symbol.iterator in headers) {
    for (const [name, value] of headers) out[name] = value;
  } else {
    for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = value;
  }
  // fetch appends its own Content-Length to one the caller set ("5, 5"); undici's client reads the first number, so
  // does this. A duplicated value on the wire is a 400 from strict servers (Go's).
  const length = out['content-length'];
  if (length !== undefined) out['content-length'] = String(parseInt(String(length), 10));
  return out;
}

/**
 * A fetch dispatcher (`fetch(url, { dispatcher })`) that sends each request direct or through the proxy `proxyFor`
 * picks, with the TLS settings of `options`. Connections are kept alive per route.
 */
export class NetworkDispatcher {
  private readonly tls: tls.ConnectionOptions;
  private readonly directHttp = new http.Agent({ keepAlive: true });
  private readonly directHttps: https.Agent;
  private readonly viaProxy = new Map<string, http.Agent>();
  private readonly timeouts: NetworkTimeouts;

  constructor(private readonly options: NetworkOptions) {
    this.tls = tlsOptions(options.tls);
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.directHttps = new https.Agent({ keepAlive: true, ...this.tls });
  }

  /** The undici Dispatcher method Node's fetch calls, once per request (redirects included). */
  dispatch(options: DispatchOptions, handler: DispatchHandler): boolean {
    const url = new URL(options.path, options.origin);
    const headers = headerRecord(options.headers);
    const proxy = proxyFor(url, this.options);
    let request: http.ClientRequest;
    if (!proxy) {
      const secure = url.protocol === 'https:';
      request = (secure ? https : http).request(url, {
        method: options.method,
        headers,
        agent: secure ? this.directHttps : this.directHttp,
      });
    } else if (url.protocol === 'https:') {
      request = https.request(url, { method: options.method, headers, agent: this.agentFor(proxy, 'tunnel') });
    } else {
      // Plain HTTP goes to the proxy as an absolute-form request (RFC 9112 §3.2.2), as curl sends it.
      const authorization = proxyAuthorization(proxy);
      const target = connectTarget(proxy, this.tls);
      request = (target.protocol === 'https:' ? https : http).request({
        ...target,
        method: options.method,
        path: url.href,
        headers: { ...headers, host: url.host, ...(authorization ? { 'proxy-authorization': authorization } : {}) },
        agent: this.agentFor(proxy, 'forward'),
      });
    }
    this.exchange(request, url, proxy, options.body, handler);
    return true;
  }

  private agentFor(proxy: ProxyServer, mode: 'tunnel' | 'forward'): http.Agent {
    const key = `${mode} ${proxy.url}`;
    let agent = this.viaProxy.get(key);
    if (!agent) {
      if (mode === 'tunnel') agent = new TunnelingAgent(proxy, this.tls, { keepAlive: true, ...this.tls });
      else
        agent =
          new URL(proxy.url).protocol === 'https:'
            ? new https.Agent({ keepAlive: true, ...this.tls })
            : new http.Agent({ keepAlive: true });
      this.viaProxy.set(key, agent);
    }
    return agent;
  }

  private exchange(
    request: http.ClientRequest,
    url: URL,
    proxy: ProxyServer | undefined,
    body: DispatchOptions['body'],
    handler: DispatchHandler,
  ): void {
    let finished = false;
    const timers = new Set<NodeJS.Timeout>();
    const fail = (error: Error) => {
      if (finished) return;
      finished = true;
      for (const timer of timers) clearTimeout(timer);
      request.destroy();
      handler.onError?.(error);
    };
    const limit = (code: NetworkTimeoutError['code'], ms: number): NodeJS.Timeout => {
      const timer = setTimeout(() => fail(new NetworkTimeoutError(code, url.host, ms)), ms);
      timers.add(timer);
      return timer;
    };
    const clear = (timer: NodeJS.Timeout) => {
      clearTimeout(timer);
      timers.delete(timer);
    };
    // Connect: until the socket (through a proxy: the tunnel) is open and, for https, its handshake done.
    const connecting = limit('UND_ERR_CONNECT_TIMEOUT', this.timeouts.connectMs);
    request.once('socket', (socket: net.Socket) => {
      const tlsPending =
        socket instanceof tls.TLSSocket && !(socket as tls.TLSSocket & { _secureEstablished?: boolean })._secureEstablished;
      if (!socket.connecting && !tlsPending) clear(connecting);
      else socket.once(tlsPending ? 'secureConnect' : 'connect', () => clear(connecting));
    });
    // First byte: from the whole request sent to the response's status line.
    let waiting: NodeJS.Timeout | undefined;
    request.once('finish', () => {
      if (!finished) waiting = limit('UND_ERR_HEADERS_TIMEOUT', this.timeouts.firstByteMs);
    });
    handler.onConnect?.((reason) => fail(reason ?? new Error('the request was aborted')));
    // `on`, not `once`: a destroyed request may report more errors, which `fail` ignores once it has settled.
    request.on('error', fail);
    request.once('response', (response) => {
      clear(connecting);
      if (waiting) clear(waiting);
      // Idle: the longest silence inside the body (on a kept-alive socket, undone when the body ends).
      const socket = response.socket;
      const onIdle = () => fail(new NetworkTimeoutError('UND_ERR_BODY_TIMEOUT', url.host, this.timeouts.idleMs));
      socket?.setTimeout(this.timeouts.idleMs);
      socket?.on('timeout', onIdle);
      if (proxy && response.statusCode === 407 && url.protocol === 'http:') {
        // Only a proxy answers 407: report it as the proxy's refusal, like a refused tunnel.
        response.resume();
        fail(new ProxyError(proxy, url.host, { status: 407, statusText: response.statusMessage }));
        return;
      }
      handler.onResponseStarted?.();
      const raw = response.rawHeaders.map((value) => Buffer.from(value, 'latin1'));
      if (handler.onHeaders?.(response.statusCode ?? 0, raw, () => response.resume(), response.statusMessage ?? '') === false)
        response.pause();
      response.on('data', (chunk: Buffer) => {
        if (handler.onData?.(chunk) === false) response.pause();
      });
      response.once('end', () => {
        socket?.setTimeout(0);
        socket?.off('timeout', onIdle);
        if (finished) return;
        finished = true;
        handler.onComplete?.(response.rawTrailers.map((value) => Buffer.from(value, 'latin1')));
      });
      response.on('error', fail);
      response.once('aborted', () =>
        fail(Object.assign(new Error('the connection closed before the response ended'), { code: 'ECONNRESET' })),
      );
    });
    void sendBody(request, body).catch((error: Error) => fail(error));
  }
}

async function sendBody(request: http.ClientRequest, body: DispatchOptions['body']): Promise<void> {
  if (body === null || body === undefined) {
    request.end();
    return;
  }
  if (typeof body === 'string' || body instanceof Uint8Array) {
    request.end(body);
    return;
  }
  for await (const chunk of body) {
    if (request.destroyed) return;
    if (!request.write(chunk)) {
      // Whichever comes first ends the wait; the other listener goes too, or a long upload piles them up.
      await new Promise<void>((resolve) => {
        const done = () => {
          request.off('drain', done).off('close', done);
          resolve();
        };
        request.once('drain', done).once('close', done);
      });
    }
  }
  request.end();
}
