import * as crypto from 'node:crypto';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import type { TestUser } from './token-issuer';

/**
 * Seeds test registries through the distribution HTTP API with plain fetch, independent of the product's registry
 * code, so a bug there cannot hide in both the code and its fixtures. Images are real (gzip'd tar layers, a config
 * whose diff_ids match) and deterministic: the same seed gives the same digests.
 */

export interface RegistryAuth {
  username: string;
  password: string;
}

/** A TestRegistry, a FaultProxy or anything else with a base URL. */
export interface RegistryEndpoint {
  url: string;
  users?: TestUser[];
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export const MEDIA_TYPES = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    index: 'application/vnd.oci.image.index.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
  docker: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    index: 'application/vnd.docker.distribution.manifest.list.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
} as const;

/** Every manifest media type, for Accept headers. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.oci.manifest,
  MEDIA_TYPES.oci.index,
  MEDIA_TYPES.docker.manifest,
  MEDIA_TYPES.docker.index,
].join(', ');

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
}

/** Deterministic pseudo-random bytes: an AES-256-CTR keystream keyed by (seed, label). Fast for many megabytes. */
export function seededBytes(seed: number | string, length: number, label = ''): Buffer {
  const key = crypto.createHash('sha256').update(`outerloop-test:${seed}:${label}`).digest();
  const cipher = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

export interface SeedResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const match = /^(\w+)\s*(.*)$/.exec(header.trim());
  if (!match) return undefined;
  const params: Record<string, string> = {};
  for (const m of match[2].matchAll(/(\w+)="([^"]*)"/g)) params[m[1]] = m[2];
  return { scheme: match[1].toLowerCase(), params };
}

/**
 * A minimal registry client: answers Basic and Bearer challenges (GET token with Basic credentials), caches tokens
 * per scope. No retries: seeding goes straight to the registry, not through a fault proxy.
 */
export class SeedClient {
  private readonly tokens = new Map<string, string>();
  private basic = false;
  /** Token requests made so far. */
  tokenRequests = 0;

  constructor(
    readonly endpoint: RegistryEndpoint,
    private readonly auth?: RegistryAuth,
  ) {}

  private authHeader(scope: string | undefined): string | undefined {
    if (this.basic && this.auth) return basicHeader(this.auth);
    const token = scope === undefined ? undefined : this.tokens.get(scope);
    return token ? `Bearer ${token}` : undefined;
  }

  async request(
    method: string,
    pathOrUrl: string,
    init: { body?: Buffer | string; headers?: Record<string, string>; scope?: string } = {},
  ): Promise<SeedResponse> {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.endpoint.url}${pathOrUrl}`;
    const send = async (scope: string | undefined) => {
      const headers: Record<string, string> = { ...init.headers };
      const authorization = this.authHeader(scope);
      if (authorization) headers.authorization = authorization;
      const res = await fetch(url, { method, headers, body: init.body });
      return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
    };
    const first = await send(init.scope);
    if (first.status !== 401) return first;
    const challenge = parseChallenge(first.headers.get('www-authenticate'));
    if (!challenge) return first;
    if (challenge.scheme === 'basic') {
      if (!this.auth || this.basic) return first;
      this.basic = true;
      return send(undefined);
    }
    if (challenge.scheme === 'bearer' && challenge.params.realm) {
      const scope = init.scope ?? challenge.params.scope ?? '';
      await this.fetchToken(challenge.params.realm, challenge.params.service, scope);
      return send(scope);
    }
    return first;
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string): Promise<void> {
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    for (const s of scope.split(' ').filter(Boolean)) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (this.auth) headers.authorization = basicHeader(this.auth);
    this.tokenRequests++;
    const res = await fetch(url, { headers });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`seed client: token request for '${scope}' → ${res.status} ${text}`);
    const body = JSON.parse(text) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new Error(`seed client: token response for '${scope}' has no token`);
    this.tokens.set(scope, token);
  }
}

function basicHeader(auth: RegistryAuth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

/** `undefined` → the registry's first user (if any); `null` → anonymous. */
function clientFor(registry: RegistryEndpoint, auth: RegistryAuth | null | undefined): SeedClient {
  const resolved = auth === null ? undefined : (auth ?? registry.users?.[0]);
  return new SeedClient(registry, resolved);
}

function fail(what: string, res: SeedResponse): never {
  throw new Error(`${what} → ${res.status} ${res.body.toString('utf8').slice(0, 500)}`);
}

/** Uploads a blob unless the repository already has it; checks the digest the registry reports. */
export async function pushBlob(client: SeedClient, repo: string, data: Buffer): Promise<string> {
  const digest = sha256Digest(data);
  const scope = `repository:${repo}:pull,push`;
  const head = await client.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scope });
  if (head.status === 200) return digest;
  const start = await client.request('POST', `/v2/${repo}/blobs/uploads/`, { scope });
  if (start.status !== 202) fail(`seed: start upload to ${repo}`, start);
  const location = start.headers.get('location');
  if (!location) throw new Error(`seed: upload start for ${repo} returned no Location`);
  const target = new URL(location, client.endpoint.url);
  target.searchParams.set('digest', digest);
  const put = await client.request('PUT', target.toString(), {
    scope,
    body: data,
    headers: { 'content-type': 'application/octet-stream' },
  });
  if (put.status !== 201) fail(`seed: upload ${digest} to ${repo}`, put);
  const reported = put.headers.get('docker-content-digest');
  if (reported && reported !== digest) throw new Error(`seed: registry stored ${reported}, expected ${digest}`);
  return digest;
}

/** PUTs a manifest by tag or digest and checks the Docker-Content-Digest the registry answers with. */
export async function pushManifest(client: SeedClient, repo: string, reference: string, mediaType: string, bytes: Buffer): Promise<string> {
  const digest = sha256Digest(bytes);
  const res = await client.request('PUT', `/v2/${repo}/manifests/${reference}`, {
    scope: `repository:${repo}:pull,push`,
    body: bytes,
    headers: { 'content-type': mediaType },
  });
  if (res.status !== 201) fail(`seed: put manifest ${repo}:${reference}`, res);
  const reported = res.headers.get('docker-content-digest');
  if (reported !== digest) throw new Error(`seed: registry reports ${reported} for manifest ${digest}`);
  return digest;
}

export interface PushImageOptions {
  layers?: number;
  bytesPerLayer?: number;
  seed?: number | string;
  /** Default: the registry's first user; null for anonymous. */
  auth?: RegistryAuth | null;
  mediaType?: 'oci' | 'docker';
  platform?: Platform;
}

export interface PushedImage {
  repo: string;
  tag?: string;
  /** Manifest digest. */
  digest: string;
  mediaType: string;
  /** The exact manifest bytes pushed. */
  manifest: Buffer;
  configDigest: string;
  config: Buffer;
  layerDigests: string[];
  /** Compressed sizes, in layer order. */
  layerSizes: number[];
  platform: Platform;
}

async function layerBlob(seed: number | string, index: number, bytes: number): Promise<{ tar: Buffer; gz: Buffer }> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  pack.entry(
    { name: `data/layer-${index}.bin`, size: bytes, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 },
    seededBytes(seed, bytes, `layer-${index}`),
  );
  pack.finalize();
  await done;
  const tarData = Buffer.concat(chunks);
  // Random data does not compress; level 1 keeps big layers fast. Node's gzip header is fixed (mtime 0).
  return { tar: tarData, gz: zlib.gzipSync(tarData, { level: 1 }) };
}

/** Builds an image from the seed and pushes its blobs and manifest; tags it when `tag` is given. */
export async function pushRandomImage(
  registry: RegistryEndpoint,
  repo: string,
  tag: string | undefined,
  options: PushImageOptions = {},
): Promise<PushedImage> {
  const client = clientFor(registry, options.auth);
  return pushImageWith(client, repo, tag, options);
}

async function pushImageWith(client: SeedClient, repo: string, tag: string | undefined, options: PushImageOptions): Promise<PushedImage> {
  const layerCount = options.layers ?? 2;
  const bytesPerLayer = options.bytesPerLayer ?? 1024;
  const seed = options.seed ?? 1;
  const types = MEDIA_TYPES[options.mediaType ?? 'oci'];
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };

  const layers = await Promise.all(Array.from({ length: layerCount }, (_, i) => layerBlob(seed, i, bytesPerLayer)));
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created: '1970-01-01T00:00:00Z',
      config: { Cmd: ['/bin/sh'], Labels: { 'outerloop.test': '1', 'outerloop.test.seed': String(seed) } },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256Digest(l.tar)) },
      history: layers.map((_, i) => ({ created: '1970-01-01T00:00:00Z', created_by: `outerloop test layer ${i}` })),
    }),
  );

  const layerDigests: string[] = [];
  for (const layer of layers) layerDigests.push(await pushBlob(client, repo, layer.gz));
  const configDigest = await pushBlob(client, repo, config);

  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: configDigest, size: config.length },
      layers: layers.map((l, i) => ({ mediaType: types.layer, digest: layerDigests[i], size: l.gz.length })),
    }),
  );
  const digest = await pushManifest(client, repo, tag ?? sha256Digest(manifest), types.manifest, manifest);
  return {
    repo,
    tag,
    digest,
    mediaType: types.manifest,
    manifest,
    configDigest,
    config,
    layerDigests,
    layerSizes: layers.map((l) => l.gz.length),
    platform,
  };
}

export interface PushIndexOptions extends Omit<PushImageOptions, 'platform'> {
  /** Platforms of the child images pushed first (by digest). Default linux/amd64 and linux/arm64. */
  platforms?: Platform[];
  /** Children already pushed to `repo` (same media type family); when given, nothing else is pushed first. */
  children?: PushedImage[];
}

export interface PushedIndex {
  repo: string;
  tag?: string;
  digest: string;
  mediaType: string;
  manifest: Buffer;
  children: PushedImage[];
}

/**
 * A multi-platform image: single-platform manifests pushed by digest, then the OCI index ('oci') or Docker
 * manifest list ('docker') naming them, tagged with `tag` when given.
 */
export async function pushIndex(
  registry: RegistryEndpoint,
  repo: string,
  tag: string | undefined,
  options: PushIndexOptions = {},
): Promise<PushedIndex> {
  const client = clientFor(registry, options.auth);
  const types = MEDIA_TYPES[options.mediaType ?? 'oci'];
  const platforms = options.platforms ?? [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ];
  const seed = options.seed ?? 1;
  const children =
    options.children ??
    (await Promise.all(
      platforms.map((platform) =>
        pushImageWith(client, repo, undefined, {
          ...options,
          platform,
          seed: `${seed}/${platform.os}/${platform.architecture}/${platform.variant ?? ''}`,
        }),
      ),
    ));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.index,
      manifests: children.map((c) => ({
        mediaType: c.mediaType,
        digest: c.digest,
        size: c.manifest.length,
        platform: c.platform,
      })),
    }),
  );
  const digest = await pushManifest(client, repo, tag ?? sha256Digest(manifest), types.index, manifest);
  return { repo, tag, digest, mediaType: types.index, manifest, children };
}

export interface FetchedManifest {
  status: number;
  /** Docker-Content-Digest as reported (undefined when missing). */
  digest?: string;
  mediaType?: string;
  bytes: Buffer;
}

/** GET a manifest by tag or digest, accepting every manifest type. Default auth: the registry's first user. */
export async function fetchManifest(
  registry: RegistryEndpoint,
  repo: string,
  reference: string,
  auth?: RegistryAuth | null,
): Promise<FetchedManifest> {
  const res = await clientFor(registry, auth).request('GET', `/v2/${repo}/manifests/${reference}`, {
    scope: `repository:${repo}:pull`,
    headers: { accept: MANIFEST_ACCEPT },
  });
  return {
    status: res.status,
    digest: res.headers.get('docker-content-digest') ?? undefined,
    mediaType: res.headers.get('content-type') ?? undefined,
    bytes: res.body,
  };
}

/** GET a blob; throws unless 200 with the expected digest. */
export async function fetchBlob(registry: RegistryEndpoint, repo: string, digest: string, auth?: RegistryAuth | null): Promise<Buffer> {
  const res = await clientFor(registry, auth).request('GET', `/v2/${repo}/blobs/${digest}`, {
    scope: `repository:${repo}:pull`,
  });
  if (res.status !== 200) fail(`fetch blob ${repo}@${digest}`, res);
  if (sha256Digest(res.body) !== digest) throw new Error(`fetch blob ${repo}@${digest}: content has another digest`);
  return res.body;
}

export async function blobExists(registry: RegistryEndpoint, repo: string, digest: string, auth?: RegistryAuth | null): Promise<boolean> {
  const res = await clientFor(registry, auth).request('HEAD', `/v2/${repo}/blobs/${digest}`, {
    scope: `repository:${repo}:pull`,
  });
  if (res.status === 200) return true;
  if (res.status === 404) return false;
  return fail(`head blob ${repo}@${digest}`, res);
}

/** Tags of a repository ([] when the repository does not exist). */
export async function listTags(registry: RegistryEndpoint, repo: string, auth?: RegistryAuth | null): Promise<string[]> {
  // metadata_read: what ACR (and the ACR-like registry of acr-registry.ts) lists tags for; distribution ignores it.
  const res = await clientFor(registry, auth).request('GET', `/v2/${repo}/tags/list?n=1000`, {
    scope: `repository:${repo}:pull,metadata_read`,
  });
  if (res.status === 404) return [];
  if (res.status !== 200) fail(`list tags of ${repo}`, res);
  return ((JSON.parse(res.body.toString('utf8')) as { tags?: string[] | null }).tags ?? []).sort();
}
