import * as http from 'node:http';
import { listenOnLoopback } from './loopback';

/**
 * A counting, fault-injecting HTTP proxy in front of a test registry (or any loopback HTTP server).
 *
 * Faults are drawn from a seeded PRNG, one draw per eligible request in arrival order, so the same seed and the same
 * request sequence give the same schedule. With `faultRate: 0` it is a pure counting proxy.
 */

export type FaultKind = '500' | '503' | '429' | 'reset' | 'truncate';

/** Kinds used when `kinds` is not given. 'truncate' is opt-in: it lets the upstream act, then cuts the response. */
export const DEFAULT_FAULT_KINDS: readonly FaultKind[] = ['500', '503', '429', 'reset'];

export interface FaultProxyOptions {
  /** Origin to forward to, e.g. `http://127.0.0.1:5000`. */
  target: string;
  seed?: number;
  /** Probability in [0, 1] that an eligible request is faulted. Default 0 (counting only). */
  faultRate?: number;
  /** Never more than this many faults in a row among eligible requests. Default 2. */
  maxConsecutive?: number;
  kinds?: readonly FaultKind[];
  /** Retry-After value sent with '429'. Default '1' (seconds); '0' keeps tests fast. */
  retryAfter?: number | string;
  /**
   * Which requests may be faulted (`path` includes the query string). Others pass through without drawing from
   * the PRNG, so the schedule among eligible requests does not depend on them. Default: every request.
   */
  eligible?: (method: string, path: string) => boolean;
  /**
   * Explicit faults for the first eligible requests (null = pass), applied before the PRNG takes over. The
   * PRNG still draws for these requests, so the schedule after the script is the same as without it.
   */
  script?: ReadonlyArray<FaultKind | null>;
  /** Called as each request arrives, before it is faulted or forwarded: a test acts at a precise point of a protocol. */
  onRequest?: (method: string, path: string) => void;
}

export interface ProxyEntry {
  seq: number;
  method: string;
  /** Path including the query string, as the client sent it. */
  path: string;
  /** Status the client saw; undefined when the connection was dropped before a status line. */
  status?: number;
  fault?: FaultKind;
  /** True when the request reached the upstream. */
  forwarded: boolean;
  /** Request body bytes received from the client. */
  bytesUp: number;
  /** Response body bytes sent to the client. */
  bytesDown: number;
  /** Which kind of Authorization header the client sent (never its value). */
  auth: 'none' | 'basic' | 'bearer' | 'other';
  /** Upstream failure, when the proxy itself answered 502. */
  error?: string;
  /** True once the exchange has ended (response finished or connection closed). */
  done: boolean;
}

export interface ProxyCounts {
  requests: number;
  faults: number;
  byKind: Record<FaultKind, number>;
  byStatus: Record<string, number>;
  /** Body bytes of blob GET responses (`GET /v2/<name>/blobs/<digest>`) that reached the client. */
  blobBytesDown: number;
  /** Body bytes of blob uploads (POST/PATCH/PUT under `/v2/<name>/blobs/uploads/`) that reached the upstream. */
  blobBytesUp: number;
  bytesDown: number;
  bytesUp: number;
  /** Forwarded `GET /v2/<name>/blobs/<digest>` requests. */
  blobGets: number;
  /** Forwarded `HEAD /v2/<name>/blobs/<digest>` requests. */
  blobHeads: number;
  /** Forwarded upload starts without `mount=`. */
  uploadStarts: number;
  /** Forwarded cross-repository mount attempts (`POST .../blobs/uploads/?mount=...`). */
  mounts: number;
  /** Mount attempts the registry answered with 201 Created. */
  mountsCreated: number;
  manifestGets: number;
  manifestPuts: number;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  log: ProxyEntry[];
  counts(): ProxyCounts;
  /** Clears the log and the counters (the PRNG keeps its position). */
  reset(): void;
  /** Changes the fault rate from now on (e.g. seed without faults, then turn them on). */
  setFaultRate(rate: number): void;
  stop(): Promise<void>;
}

/** mulberry32: a tiny, well-mixed 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer']);
const BLOB_PATH = /^\/v2\/.+\/blobs\/sha256:[a-f0-9]{64}$/;
const UPLOAD_PATH = /^\/v2\/.+\/blobs\/uploads\//;
const MANIFEST_PATH = /^\/v2\/.+\/manifests\/[^/]+$/;

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  if (target.protocol !== 'http:') throw new Error(`fault proxy target must be http://, got ${options.target}`);
  const kinds = options.kinds ?? DEFAULT_FAULT_KINDS;
  if (kinds.length === 0) throw new Error('fault proxy needs at least one fault kind');
  const maxConsecutive = options.maxConsecutive ?? 2;
  const retryAfter = String(options.retryAfter ?? 1);
  const eligible = options.eligible ?? (() => true);
  const script = options.script ?? [];
  const random = mulberry32(options.seed ?? 1);
  let faultRate = options.faultRate ?? 0;
  let consecutive = 0;
  let eligibleSeen = 0;
  let seq = 0;
  let log: ProxyEntry[] = [];

  const upstreamAgent = new http.Agent({ keepAlive: true });
  let proxyOrigin = '';

  function drawFault(): FaultKind | undefined {
    // Always draw twice so the stream position depends only on the number of eligible requests.
    const roll = random();
    const pick = kinds[Math.floor(random() * kinds.length)];
    const index = eligibleSeen++;
    let fault: FaultKind | undefined;
    if (index < script.length) fault = script[index] ?? undefined;
    else if (consecutive < maxConsecutive && roll < faultRate) fault = pick;
    consecutive = fault ? consecutive + 1 : 0;
    return fault;
  }

  function rewriteLocation(value: string): string {
    if (value.startsWith(target.origin)) return proxyOrigin + value.slice(target.origin.length);
    return value;
  }

  function authKind(header: string | undefined): ProxyEntry['auth'] {
    if (!header) return 'none';
    const scheme = header.split(' ')[0].toLowerCase();
    return scheme === 'basic' ? 'basic' : scheme === 'bearer' ? 'bearer' : 'other';
  }

  const server = http.createServer((req, res) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    options.onRequest?.(method, path);
    const entry: ProxyEntry = {
      seq: seq++,
      method,
      path,
      forwarded: false,
      bytesUp: 0,
      bytesDown: 0,
      auth: authKind(req.headers.authorization),
      done: false,
    };
    const currentLog = log;
    currentLog.push(entry);
    req.on('data', (chunk: Buffer) => {
      entry.bytesUp += chunk.length;
    });
    res.on('close', () => {
      entry.done = true;
    });

    const fault = eligible(method, path) ? drawFault() : undefined;
    entry.fault = fault;

    if (fault === 'reset') {
      entry.done = true;
      req.socket.destroy();
      return;
    }
    if (fault === '500' || fault === '503' || fault === '429') {
      // Read the whole body first, so the client sees a response rather than a broken pipe.
      req.resume();
      req.on('end', () => {
        const status = Number(fault);
        const code = status === 429 ? 'TOOMANYREQUESTS' : 'UNAVAILABLE';
        const body = JSON.stringify({ errors: [{ code, message: `fault proxy: injected ${fault}` }] });
        const headers: http.OutgoingHttpHeaders = {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(body),
        };
        if (status === 429) headers['retry-after'] = retryAfter;
        entry.status = status;
        entry.bytesDown = Buffer.byteLength(body);
        res.writeHead(status, headers);
        res.end(body);
      });
      return;
    }

    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
    }
    const upstream = http.request(
      {
        host: target.hostname,
        port: target.port || 80,
        method,
        path,
        headers,
        agent: upstreamAgent,
      },
      (upRes) => {
        const status = upRes.statusCode ?? 502;
        const outHeaders: http.OutgoingHttpHeaders = {};
        for (const [name, value] of Object.entries(upRes.headers)) {
          if (value === undefined || HOP_BY_HOP.has(name)) continue;
          outHeaders[name] = name === 'location' && typeof value === 'string' ? rewriteLocation(value) : value;
        }
        if (fault === 'truncate') {
          const length = Number(upRes.headers['content-length'] ?? 0);
          if (method === 'HEAD' || !(length > 1)) {
            // Nothing to cut: the upstream acted, the client loses the whole response.
            upRes.resume();
            req.socket.destroy();
            return;
          }
          let allowed = Math.floor(length / 2);
          entry.status = status;
          res.writeHead(status, outHeaders);
          upRes.on('data', (chunk: Buffer) => {
            if (allowed <= 0) return;
            const part = chunk.subarray(0, allowed);
            allowed -= part.length;
            entry.bytesDown += part.length;
            if (allowed > 0) {
              res.write(part);
              return;
            }
            upRes.destroy();
            res.write(part, () => res.socket?.destroy());
          });
          return;
        }
        entry.status = status;
        res.writeHead(status, outHeaders);
        upRes.on('data', (chunk: Buffer) => {
          entry.bytesDown += chunk.length;
        });
        upRes.pipe(res);
      },
    );
    entry.forwarded = true;
    upstream.on('error', (err) => {
      entry.error = err.message;
      if (!res.headersSent) {
        entry.status = 502;
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault proxy: upstream error: ${err.message}`);
      } else {
        res.socket?.destroy();
      }
    });
    req.on('aborted', () => upstream.destroy());
    req.pipe(upstream);
  });
  server.keepAliveTimeout = 5000;

  const port = await listenOnLoopback(server);
  const host = `127.0.0.1:${port}`;
  proxyOrigin = `http://${host}`;

  function counts(): ProxyCounts {
    const result: ProxyCounts = {
      requests: log.length,
      faults: 0,
      byKind: { '500': 0, '503': 0, '429': 0, reset: 0, truncate: 0 },
      byStatus: {},
      blobBytesDown: 0,
      blobBytesUp: 0,
      bytesDown: 0,
      bytesUp: 0,
      blobGets: 0,
      blobHeads: 0,
      uploadStarts: 0,
      mounts: 0,
      mountsCreated: 0,
      manifestGets: 0,
      manifestPuts: 0,
    };
    for (const e of log) {
      if (e.fault) {
        result.faults++;
        result.byKind[e.fault]++;
      }
      if (e.status !== undefined) result.byStatus[e.status] = (result.byStatus[e.status] ?? 0) + 1;
      result.bytesDown += e.bytesDown;
      result.bytesUp += e.bytesUp;
      if (!e.forwarded) continue;
      const [pathname, query = ''] = e.path.split('?', 2);
      if (BLOB_PATH.test(pathname)) {
        if (e.method === 'GET') {
          result.blobGets++;
          result.blobBytesDown += e.bytesDown;
        } else if (e.method === 'HEAD') {
          result.blobHeads++;
        }
      } else if (UPLOAD_PATH.test(pathname)) {
        result.blobBytesUp += e.bytesUp;
        if (e.method === 'POST') {
          if (new URLSearchParams(query).has('mount')) {
            result.mounts++;
            if (e.status === 201) result.mountsCreated++;
          } else {
            result.uploadStarts++;
          }
        }
      } else if (MANIFEST_PATH.test(pathname)) {
        if (e.method === 'GET') result.manifestGets++;
        else if (e.method === 'PUT') result.manifestPuts++;
      }
    }
    return result;
  }

  const proxy: FaultProxy = {
    host,
    url: proxyOrigin,
    get log() {
      return log;
    },
    set log(value: ProxyEntry[]) {
      log = value;
    },
    counts,
    reset() {
      log = [];
    },
    setFaultRate(rate: number) {
      faultRate = rate;
    },
    async stop() {
      upstreamAgent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
