import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { MEDIA_TYPES } from './images';
import type { RegistryKind, TestRegistry, TestUser } from './registries';
import { listenOnLoopback } from './loopback';

/*
 * A contract server for the OCI distribution-spec 1.1 referrers API, in front of a real distribution registry
 * (Debian's 2.8, which has no such API). Routes and fields follow distribution-spec v1.1.0:
 *
 * - "Listing Referrers" (end-12a, end-12b): `GET /v2/<name>/referrers/<digest>[?artifactType=<type>]` answers 200
 *   with an image index (`application/vnd.oci.image.index.v1+json`) of a descriptor (mediaType, digest, size,
 *   artifactType, annotations) for every manifest of the repository whose `subject` is `<digest>`; `artifactType` is
 *   the manifest's own, else the config's media type for an image manifest, else absent for an index. The filter is
 *   exact and answered with `OCI-Filters-Applied: artifactType`. Never 404 (an unknown repository or a digest without
 *   referrers gives an empty list); 400 for a malformed digest. One page: no `Link`.
 * - "Pushing Manifests with Subject": a successful manifest PUT whose body has a `subject` is answered with
 *   `OCI-Subject: <subject digest>`, so clients do not write the referrers tag schema; the server writes no tag either.
 *
 * Everything else, auth challenges included, goes to the registry unchanged (the Host header is kept, so the
 * registry's upload Locations name this server; any that name the registry are rewritten to it). A referrers request
 * is authorized by the registry itself: the same credentials must be allowed to list the repository's tags, and a 401
 * or 403 from it is passed back as it is (with the registry's challenge, which names `repository:<name>:pull`).
 *
 * The referrers are read from the registry's own storage folder (distribution's filesystem layout: a revision link
 * per manifest of the repository, the bytes in the blob store), not indexed on the way through. So every manifest
 * counts — pushed through this server, straight to the registry, before the server started — and a deleted one
 * stops counting, as with a registry that implements the API.
 */

export interface ReferrersApiServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` */
  host: string;
  kind: RegistryKind;
  /** The registry's users: its credentials work here unchanged. */
  users: TestUser[];
  /** The registry behind it (seed or check there to bypass the API). */
  registry: TestRegistry;
  /** Referrers requests answered, and manifest PUTs answered with `OCI-Subject`. */
  counts(): { referrersRequests: number; subjectsAcknowledged: number };
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te', 'trailer', 'transfer-encoding']);
const REFERRERS_PATH = /^\/v2\/(.+)\/referrers\/([^/]+)$/;
const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/[^/]+$/;
/** distribution-spec "Pulling manifests": the digest grammar of the reference. */
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const REPOSITORY_NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** distribution's own limit on a manifest body. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

interface StoredManifest {
  mediaType?: string;
  artifactType?: string;
  config?: { mediaType?: string };
  manifests?: unknown;
  subject?: { digest?: string };
  annotations?: Record<string, string>;
}

function storageRoot(registry: TestRegistry): string {
  return path.join(registry.storageDir, 'docker', 'registry', 'v2');
}

/** Descriptors of every manifest of `repository` whose subject is `digest`, from distribution's filesystem layout. */
function referrersInStorage(registry: TestRegistry, repository: string, digest: string): Descriptor[] {
  const root = storageRoot(registry);
  const revisions = path.join(root, 'repositories', repository, '_manifests', 'revisions', 'sha256');
  let hexes: string[];
  try {
    hexes = fs.readdirSync(revisions).sort();
  } catch {
    return [];
  }
  const found: Descriptor[] = [];
  for (const hex of hexes) {
    // distribution removes the link when the manifest is deleted; a folder without one is a deleted revision.
    if (!fs.existsSync(path.join(revisions, hex, 'link'))) continue;
    let bytes: Buffer;
    try {
      bytes = fs.readFileSync(path.join(root, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'));
    } catch {
      continue;
    }
    let manifest: StoredManifest;
    try {
      manifest = JSON.parse(bytes.toString('utf8')) as StoredManifest;
    } catch {
      continue;
    }
    if (manifest.subject?.digest !== digest) continue;
    const isIndex = Array.isArray(manifest.manifests);
    const mediaType = manifest.mediaType ?? (isIndex ? MEDIA_TYPES.oci.index : MEDIA_TYPES.oci.manifest);
    const artifactType = manifest.artifactType || (isIndex ? undefined : manifest.config?.mediaType);
    found.push({
      mediaType,
      digest: `sha256:${hex}`,
      size: bytes.length,
      ...(artifactType ? { artifactType } : {}),
      ...(manifest.annotations && Object.keys(manifest.annotations).length > 0 ? { annotations: manifest.annotations } : {}),
    });
  }
  return found;
}

function forwardedHeaders(req: http.IncomingMessage, extra: Record<string, string> = {}): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  return { ...headers, ...extra };
}

function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message }] });
}

/** Starts the contract server on 127.0.0.1 (random port) in front of `registry`, which must serve plain HTTP. */
export async function startReferrersApi(registry: TestRegistry): Promise<ReferrersApiServer> {
  const target = new URL(registry.url);
  if (target.protocol !== 'http:') {
    throw new Error(
      `the referrers contract server fronts a plain-HTTP registry (got ${registry.url}); put a TLS relay in front of it instead`,
    );
  }
  let origin = '';
  let referrersRequests = 0;
  let subjectsAcknowledged = 0;
  const agent = new http.Agent({ keepAlive: true });

  function upstream(
    req: http.IncomingMessage,
    options: { method: string; path: string; headers: http.OutgoingHttpHeaders },
    onResponse: (res: http.IncomingMessage) => void,
    onError: (err: Error) => void,
  ): http.ClientRequest {
    const request = http.request({ host: target.hostname, port: target.port, agent, ...options }, onResponse);
    request.on('error', onError);
    req.on('aborted', () => request.destroy());
    return request;
  }

  function relayHeaders(res: http.IncomingMessage, extra: Record<string, string> = {}): http.OutgoingHttpHeaders {
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name)) continue;
      headers[name] =
        name === 'location' && typeof value === 'string' && value.startsWith(target.origin)
          ? origin + value.slice(target.origin.length)
          : value;
    }
    return { ...headers, ...extra };
  }

  function badGateway(res: http.ServerResponse, err: Error): void {
    if (res.headersSent) {
      res.socket?.destroy();
      return;
    }
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end(`referrers contract server: registry error: ${err.message}`);
  }

  function answerReferrers(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    repository: string,
    digest: string,
    query: URLSearchParams,
  ): void {
    referrersRequests++;
    const send = (status: number, headers: http.OutgoingHttpHeaders, body: string) => {
      res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (!REPOSITORY_NAME.test(repository)) {
      send(400, { 'content-type': 'application/json' }, errorBody('NAME_INVALID', `invalid repository name '${repository}'`));
      return;
    }
    if (!DIGEST.test(digest)) {
      send(400, { 'content-type': 'application/json' }, errorBody('DIGEST_INVALID', `invalid digest '${digest}'`));
      return;
    }
    // The registry decides who may read the repository: its tag list needs the same `pull` a referrers list does.
    const check = upstream(
      req,
      { method: 'GET', path: `/v2/${repository}/tags/list?n=1`, headers: forwardedHeaders(req, { accept: 'application/json' }) },
      (checked) => {
        const status = checked.statusCode ?? 502;
        if (status === 401 || status === 403) {
          res.writeHead(status, relayHeaders(checked));
          checked.pipe(res);
          return;
        }
        checked.resume();
        if (status !== 200 && status !== 404) {
          send(502, { 'content-type': 'text/plain' }, `referrers contract server: the registry answered ${status} to the access check`);
          return;
        }
        const artifactType = query.get('artifactType');
        let manifests = referrersInStorage(registry, repository, digest);
        const headers: http.OutgoingHttpHeaders = {
          'content-type': MEDIA_TYPES.oci.index,
          'docker-distribution-api-version': 'registry/2.0',
        };
        if (artifactType !== null) {
          manifests = manifests.filter((m) => m.artifactType === artifactType);
          headers['oci-filters-applied'] = 'artifactType';
        }
        send(200, headers, JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.oci.index, manifests }));
      },
      (err) => badGateway(res, err),
    );
    check.end();
  }

  function putManifest(req: http.IncomingMessage, res: http.ServerResponse, requestPath: string): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_MANIFEST_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_MANIFEST_BYTES) {
        const body = errorBody('SIZE_INVALID', 'manifest too large');
        res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      const body = Buffer.concat(chunks);
      let subject: string | undefined;
      try {
        const digest = (JSON.parse(body.toString('utf8')) as StoredManifest).subject?.digest;
        if (typeof digest === 'string') subject = digest;
      } catch {
        // not JSON: the registry will refuse it, and say why
      }
      const put = upstream(
        req,
        { method: 'PUT', path: requestPath, headers: forwardedHeaders(req, { 'content-length': String(body.length) }) },
        (stored) => {
          const acknowledged = stored.statusCode === 201 && subject !== undefined;
          if (acknowledged) subjectsAcknowledged++;
          res.writeHead(stored.statusCode ?? 502, relayHeaders(stored, acknowledged ? { 'oci-subject': subject! } : {}));
          stored.pipe(res);
        },
        (err) => badGateway(res, err),
      );
      put.end(body);
    });
  }

  const server = http.createServer((req, res) => {
    const requestPath = req.url ?? '/';
    const [pathname, search = ''] = requestPath.split('?', 2);
    const referrers = REFERRERS_PATH.exec(pathname);
    if (referrers && (req.method === 'GET' || req.method === 'HEAD')) {
      req.resume();
      answerReferrers(req, res, referrers[1], decodeURIComponent(referrers[2]), new URLSearchParams(search));
      return;
    }
    if (req.method === 'PUT' && MANIFEST_PATH.test(pathname)) {
      putManifest(req, res, requestPath);
      return;
    }
    const forward = upstream(
      req,
      { method: req.method ?? 'GET', path: requestPath, headers: forwardedHeaders(req) },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, relayHeaders(answer));
        answer.pipe(res);
      },
      (err) => badGateway(res, err),
    );
    req.pipe(forward);
  });
  server.keepAliveTimeout = 5000;

  const host = `127.0.0.1:${await listenOnLoopback(server)}`;
  origin = `http://${host}`;
  let stopped: Promise<void> | undefined;
  return {
    url: origin,
    host,
    kind: registry.kind,
    users: registry.users,
    registry,
    counts: () => ({ referrersRequests, subjectsAcknowledged }),
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return stopped;
    },
  };
}
