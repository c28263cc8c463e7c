import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import Dockerode from 'dockerode';
import * as tar from 'tar-stream';
import { buildImage } from '../../shared/src/docker/build';
import { memoryLog } from '../../shared/src/log';
import { needOrSkip } from './env';
import { seededBytes } from './images';
import type { TestRegistry } from './registries';

/** Every container and image a test creates carries this label (value '1'); cleanup goes by it. */
export const TEST_LABEL = 'outerloop.test';
/** Also set on images built here: lets one test process clean up only its own images. */
export const TEST_RUN_LABEL = 'outerloop.test.run';
export const TEST_RUN_ID = `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;

export const BUSYBOX_PATH = '/usr/bin/busybox';

// Generous: an engine that is there answers in milliseconds, one that is not fails at once (no socket); only a busy
// machine is slower, and a skipped suite (a failure in CI) is the wrong answer to that.
const PING_TIMEOUT_MS = 30_000;

/** The engine named by DOCKER_HOST, else /var/run/docker.sock; undefined when it does not answer a ping. */
export async function connectEngine(): Promise<Dockerode | undefined> {
  const docker = process.env.DOCKER_HOST ? new Dockerode() : new Dockerode({ socketPath: '/var/run/docker.sock' });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('ping timed out')), PING_TIMEOUT_MS);
    });
    await Promise.race([docker.ping(), timeout]);
    return docker;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** The engine, or skip (fail in CI) when none answers. */
export async function requireEngine(ctx: Mocha.Context): Promise<Dockerode> {
  const docker = await connectEngine();
  needOrSkip(ctx, docker !== undefined, 'Docker engine (DOCKER_HOST or /var/run/docker.sock)');
  return docker as Dockerode;
}

export interface CleanupOptions {
  /** Only what this test process built or created with `TEST_RUN_LABEL` (safe while other suites run). */
  onlyThisRun?: boolean;
}

function labelFilter(options: CleanupOptions): string[] {
  return options.onlyThisRun ? [`${TEST_RUN_LABEL}=${TEST_RUN_ID}`] : [`${TEST_LABEL}=1`];
}

/** Force-removes containers labelled `outerloop.test=1` (with their anonymous volumes); returns how many. */
export async function removeTestContainers(docker: Dockerode, options: CleanupOptions = {}): Promise<number> {
  const containers = await docker.listContainers({ all: true, filters: { label: labelFilter(options) } });
  let removed = 0;
  for (const info of containers) {
    try {
      await docker.getContainer(info.Id).remove({ force: true, v: true });
      removed++;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  }
  return removed;
}

/** Removes one tag (the image goes when it was its last); a tag that is not there is fine. */
export async function untagImage(docker: Dockerode, reference: string): Promise<void> {
  try {
    await docker.getImage(reference).remove({ noprune: false });
  } catch (err) {
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== 404 && status !== 409) throw err;
  }
}

/**
 * Whether a running container of `image` exists and, when `printed` is given, its output so far holds it: the state a
 * cancel test waits for before it sends SIGTERM.
 */
export async function containerIsRunning(docker: Dockerode, image: string, printed?: string): Promise<boolean> {
  const running = await docker.listContainers({ filters: { ancestor: [image], status: ['running'] } });
  for (const { Id } of running) {
    if (printed === undefined) return true;
    const logs = await docker.getContainer(Id).logs({ stdout: true, stderr: true, follow: false });
    if (framedOutput(logs).includes(printed)) return true;
  }
  return false;
}

/** A container's output without the engine's 8-byte frame headers (a line may straddle two frames). */
function framedOutput(logs: Buffer): string {
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= logs.length;) {
    const size = logs.readUInt32BE(at + 4);
    parts.push(logs.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Force-removes images labelled `outerloop.test=1` (every tag); returns how many. */
export async function removeTestImages(docker: Dockerode, options: CleanupOptions = {}): Promise<number> {
  const images = await docker.listImages({ all: false, filters: { label: labelFilter(options) } });
  let removed = 0;
  for (const info of images) {
    try {
      await docker.getImage(info.Id).remove({ force: true });
      removed++;
    } catch (err) {
      // 404: already gone with a parent; 409: still used by a child image removed later in the loop.
      const status = (err as { statusCode?: number }).statusCode;
      if (status !== 404 && status !== 409) throw err;
    }
  }
  return removed;
}

export interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string; Tag?: string; Size?: number };
}

/** Follows an engine JSON progress stream; rejects on the first event that carries an error. */
export function followEngineProgress(docker: Dockerode, stream: NodeJS.ReadableStream, what: string): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    let failure: Error | undefined;
    docker.modem.followProgress(
      stream,
      (err: Error | null, events: ProgressEvent[]) => {
        if (err) reject(new Error(`${what}: ${err.message}`));
        else if (failure) reject(failure);
        else resolve(events);
      },
      (event: ProgressEvent) => {
        if (!failure && (event.error || event.errorDetail)) {
          failure = new Error(`${what}: ${event.errorDetail?.message ?? event.error}`);
        }
      },
    );
  });
}

export interface BuildBusyboxOptions {
  tag: string;
  /** Number of seeded random files, each COPY'd in its own layer. */
  layers: number;
  bytesPerLayer: number;
  seed: number | string;
  /** Appended after the generated instructions (e.g. `CMD ["/bin/busybox","true"]`). */
  extraDockerfile?: string;
  /** Extra files for the build context, by relative path. */
  files?: Record<string, string | Buffer>;
}

function tarContext(files: Record<string, Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const [name, data] of Object.entries(files)) {
    // Fixed mtime and mode: the classic builder hashes them, so the same seed gives the same layers.
    pack.entry({ name, size: data.length, mode: name === 'busybox' ? 0o755 : 0o644, mtime: new Date(0) }, data);
  }
  pack.finalize();
  return done.then(() => Buffer.concat(chunks));
}

/**
 * Builds `FROM scratch` + static busybox + `layers` seeded random files, labelled `outerloop.test=1`, with the
 * classic builder through the engine API. The build context is made in memory (no temp dir to clean up).
 */
export async function buildBusyboxImage(docker: Dockerode, options: BuildBusyboxOptions): Promise<{ id: string; tag: string }> {
  if (!fs.existsSync(BUSYBOX_PATH)) throw new Error(`${BUSYBOX_PATH} is missing (Debian package busybox-static)`);
  const files: Record<string, Buffer> = { busybox: fs.readFileSync(BUSYBOX_PATH) };
  const lines = ['FROM scratch', 'COPY busybox /bin/busybox'];
  for (let i = 0; i < options.layers; i++) {
    files[`layer-${i}.bin`] = seededBytes(options.seed, options.bytesPerLayer, `engine-layer-${i}`);
    lines.push(`COPY layer-${i}.bin /data/layer-${i}.bin`);
  }
  for (const [name, data] of Object.entries(options.files ?? {})) files[name] = Buffer.from(data);
  lines.push(`LABEL ${TEST_LABEL}=1`);
  if (options.extraDockerfile) lines.push(options.extraDockerfile);
  files.Dockerfile = Buffer.from(`${lines.join('\n')}\n`);

  const context = await tarContext(files);
  const stream = await docker.buildImage(Readable.from(context), {
    t: options.tag,
    rm: true,
    forcerm: true,
    labels: { [TEST_RUN_LABEL]: TEST_RUN_ID },
  });
  const events = await followEngineProgress(docker, stream, `build ${options.tag}`);
  const image = await docker.getImage(options.tag).inspect();
  const auxId = events.find((e) => e.aux?.ID)?.aux?.ID;
  if (auxId && auxId !== image.Id) throw new Error(`build ${options.tag}: engine reported ${auxId}, tag has ${image.Id}`);
  if (image.Config?.Labels?.[TEST_LABEL] !== '1') throw new Error(`build ${options.tag}: image lacks ${TEST_LABEL}=1`);
  return { id: image.Id, tag: options.tag };
}

/** Splits `host:port/repo:tag` into name and tag (a ':' after the last '/' starts the tag). */
function splitTag(ref: string): { name: string; tag?: string } {
  if (ref.includes('@')) throw new Error(`cannot push a digest reference: ${ref}`);
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { name: ref };
}

/**
 * `docker push` through the engine API with per-call credentials (never ~/.docker). Checks every progress event
 * for errors and returns the manifest digest from the engine's `aux` event.
 */
export async function pushImageWithEngine(docker: Dockerode, ref: string, auth?: { username: string; password: string }): Promise<string> {
  const { name, tag } = splitTag(ref);
  const serveraddress = name.split('/')[0];
  const authconfig = auth ? { username: auth.username, password: auth.password, serveraddress } : {};
  const stream = await docker.getImage(name).push({ tag: tag ?? 'latest', authconfig });
  const events = await followEngineProgress(docker, stream, `push ${ref}`);
  const digest = events.find((e) => e.aux?.Digest)?.aux?.Digest;
  if (!digest) throw new Error(`push ${ref}: the engine reported no digest`);
  return digest;
}

/**
 * Builds the `base` stage of the sample service staged in `sample` as `<registry>/<repository>:<TEST_RUN_ID>`, pushes it
 * with the registry's first user and removes it from the engine: a private base image, which a build FROM it can only
 * pull with that login. Returns its reference.
 */
export async function pushPrivateBaseImage(docker: Dockerode, sample: string, registry: TestRegistry, repository: string): Promise<string> {
  const reference = `${registry.host}/${repository}:${TEST_RUN_ID}`;
  await buildImage(
    docker,
    {
      dockerfile: path.join(sample, 'Dockerfile'),
      context: sample,
      target: 'base',
      imageName: reference,
      builder: 'classic',
      labels: { [TEST_LABEL]: '1', [TEST_RUN_LABEL]: TEST_RUN_ID },
    },
    memoryLog(),
  );
  await pushImageWithEngine(docker, reference, registry.users[0]);
  await docker.getImage(reference).remove();
  return reference;
}
