import * as fs from 'node:fs';
import type Docker from 'dockerode';
import type { Log } from '../log';
import { parseReference, printable } from '../reference';
import { packBuildContext } from './context';
import { dockerfileStages, targetProblem } from './dockerfile';
import {
  describeEngine,
  encodeRegistryHeader,
  engineMessage,
  engineServerAddress,
  rethrowUnreachable,
  unreachable,
  type RegistryLogin,
} from './engine';
import { EngineStreamError, followProgress, type ProgressEvent } from './events';
import { networkProblem } from './run';
import { openBuildSession, type BuildSession } from './session';
import { decodeTrace, TracePrinter } from './trace';

export type BuilderChoice = 'auto' | 'buildkit' | 'classic';

export interface BuildImageOptions {
  /** Absolute path of the Dockerfile. */
  dockerfile: string;
  /** Absolute path of the build context folder. */
  context: string;
  /** The stage to build; empty or undefined builds the last stage. */
  target?: string;
  /** The reference to tag the result with. */
  imageName: string;
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  /** Always look for a newer base image. */
  pull?: boolean;
  noCache?: boolean;
  /** Network for RUN steps; undefined is the engine's default. */
  network?: string;
  builder?: BuilderChoice;
  /** Credentials for registries that base images come from, handed to the engine for this build only. */
  logins?: readonly RegistryLogin[];
  signal?: AbortSignal;
}

export interface BuiltImage {
  imageId: string;
  imageName: string;
  builder: 'buildkit' | 'classic';
  /** The Dockerfile steps the builder ran, and how many of them it took from its cache. */
  steps: { total: number; cached: number };
  /** From the Dockerfile read to the image inspected. */
  durationMs: number;
}

/**
 * The option a failed build is down to: `logins` when the registry of a base image refused the pull (`registry` is
 * that registry), `network` for a network the builder cannot use, `context` for a context it cannot read.
 */
export interface BuildBlame {
  option: 'logins' | 'network' | 'context';
  /** What is wrong, to follow the option's name (`is 'x', a network the engine does not have …`). */
  problem: string;
  /** `logins`: the registry that refused. */
  registry?: string;
}

/** A build that did not produce an image; the message is one line naming the cause. */
export class BuildError extends Error {
  constructor(
    message: string,
    /** Set when one option is at fault, so a task can name its input. */
    readonly blame?: BuildBlame,
  ) {
    super(message);
    this.name = 'BuildError';
  }
}

/**
 * How the engine words a registry's refusal to hand out a base image: the classic builder (`no basic auth
 * credentials`, `unauthorized: authentication required`, `pull access denied … denied: requested access to the
 * resource is denied`) and BuildKit (`… 401 Unauthorized`, `insufficient_scope`, `failed to authorize`), as Docker
 * 20.10 reports them for a distribution registry with htpasswd and with token auth.
 */
const PULL_REFUSED =
  /no basic auth credentials|unauthorized|authentication required|pull access denied|requested access to the resource is denied|insufficient_scope|failed to authorize|403 Forbidden/i;

/** The registry of a base image in a failed step's name: `Step 1/2 : FROM r.io/x:1`, `[internal] load metadata for r.io/x:1`. */
function baseImageRegistry(step: string): string | undefined {
  const image =
    /^Step \d+\/\d+ : FROM\s+(?:--\S+\s+)*(\S+)/i.exec(step)?.[1] ??
    /load metadata for (\S+)/.exec(step)?.[1] ??
    /\] FROM (\S+)/.exec(step)?.[1];
  if (!image) return undefined;
  try {
    return parseReference(image).registry;
  } catch {
    return undefined;
  }
}

/** How many output lines of a failed step the error line repeats. */
const ERROR_TAIL_LINES = 3;
/** Output lines longer than this are cut in the error line (the log has them whole). */
const ERROR_LINE_CHARS = 200;

/**
 * The OCI annotations a pipeline build can fill in (https://github.com/opencontainers/image-spec/blob/main/annotations.md).
 * Values left undefined are left out.
 */
export function ociLabels(values: { revision?: string; source?: string; version?: string; created?: Date }): Record<string, string> {
  const labels: Record<string, string> = {};
  if (values.revision) labels['org.opencontainers.image.revision'] = values.revision;
  if (values.source) labels['org.opencontainers.image.source'] = values.source;
  if (values.version) labels['org.opencontainers.image.version'] = values.version;
  labels['org.opencontainers.image.created'] = (values.created ?? new Date()).toISOString();
  return labels;
}

/** BuildKit runs RUN steps only in these network modes; the classic builder takes any network. */
const buildkitNetworks = new Set(['default', 'host', 'none']);

/**
 * Builds one stage of a Dockerfile on the engine and tags it. Output streams to `log` as it comes (BuildKit's trace
 * decoded into plain `#N` lines). Throws {@link BuildError} with one line naming the cause: a missing Dockerfile, an
 * unknown target, a failing step (with the step and its last output lines), or what the engine reported.
 */
export async function buildImage(docker: Docker, options: BuildImageOptions, log: Log): Promise<BuiltImage> {
  const started = Date.now();
  let dockerfileText: string;
  try {
    dockerfileText = await fs.promises.readFile(options.dockerfile, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BuildError(
      code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR'
        ? `Dockerfile '${options.dockerfile}' does not exist`
        : `Dockerfile '${options.dockerfile}' cannot be read: ${(error as Error).message}`,
    );
  }
  const problem = targetProblem(dockerfileStages(dockerfileText), options.target);
  if (problem) throw new BuildError(`Dockerfile '${options.dockerfile}' ${problem}`);

  const engine = await describeEngine(docker);
  const choice = options.builder ?? 'auto';
  const builder = choice === 'classic' || (choice === 'auto' && !engine.buildkit) ? 'classic' : 'buildkit';
  if (builder === 'buildkit' && !engine.buildkit) {
    throw new BuildError(`the engine (${engine.os}, API ${engine.apiVersion}) cannot build with BuildKit: use builder 'classic'`);
  }
  const network = await networkFor(docker, builder, options.network, log);

  let context;
  try {
    context = await packBuildContext(options.context, options.dockerfile);
  } catch (error) {
    const problem = `names '${options.context}', which cannot be read: ${(error as Error).message}`;
    throw new BuildError(`cannot read the build context: ${(error as Error).message}`, { option: 'context', problem });
  }
  log.info(
    `Building ${options.target ? `stage '${options.target}'` : 'the last stage'} of ${options.dockerfile} as ${options.imageName} with ${builder === 'buildkit' ? 'BuildKit' : 'the classic builder'} (${context.entries} context entries)`,
  );

  const query: Record<string, string> = {
    t: options.imageName,
    dockerfile: context.dockerfile,
    rm: '1',
    // Without forcerm the classic builder leaves the container of a failed step behind.
    forcerm: '1',
    version: builder === 'buildkit' ? '2' : '1',
  };
  if (options.target) query.target = options.target;
  if (options.buildArgs && Object.keys(options.buildArgs).length) query.buildargs = JSON.stringify(options.buildArgs);
  if (options.labels && Object.keys(options.labels).length) query.labels = JSON.stringify(options.labels);
  if (options.pull) query.pull = '1';
  if (options.noCache) query.nocache = '1';
  if (network) query.networkmode = network;

  let session: BuildSession | undefined;
  if (builder === 'buildkit') {
    try {
      session = await openBuildSession(docker, options.logins ?? [], log);
    } catch (error) {
      context.stream.destroy();
      throw unreachable(docker, error) ?? new BuildError(`the engine refused a BuildKit session: ${engineMessage(error)}`);
    }
    query.session = session.id;
  }
  // The classic builder takes base-image credentials from X-Registry-Config, a map keyed by registry address.
  const registryConfig: Record<string, { username: string; password: string; serveraddress: string }> = {};
  if (builder === 'classic') {
    for (const login of options.logins ?? []) {
      registryConfig[engineServerAddress(login.host)] = { ...login.credentials, serveraddress: engineServerAddress(login.host) };
    }
  }
  const registryHeader = Object.keys(registryConfig).length
    ? { registryconfig: { base64: encodeRegistryHeader(registryConfig, log, false) } }
    : {};

  const output = builder === 'buildkit' ? new BuildkitOutput(log) : new ClassicOutput(log);
  let imageId: string | undefined;
  try {
    const stream = await new Promise<NodeJS.ReadableStream>((resolve, reject) => {
      docker.modem.dial(
        {
          path: '/build?',
          method: 'POST',
          file: context.stream,
          options: query,
          ...registryHeader,
          abortSignal: options.signal,
          isStream: true,
          statusCodes: { 200: true, 400: 'bad parameter', 500: 'server error' },
        } as never,
        (error: unknown, response: unknown) =>
          error ? reject(error instanceof Error ? error : new Error(JSON.stringify(error))) : resolve(response as NodeJS.ReadableStream),
      );
    });
    await followProgress(stream, (event) => {
      const id = output.event(event);
      if (id) imageId = id;
    });
  } catch (error) {
    // The engine may refuse before reading the whole context: stop packing it.
    context.stream.destroy();
    output.end();
    if (options.signal?.aborted) throw new BuildError(`the build of ${options.imageName} was cancelled`);
    if (error instanceof EngineStreamError) {
      const message = output.explain(error.message);
      const registry = output.failedStep && baseImageRegistry(output.failedStep);
      throw new BuildError(
        message,
        registry && PULL_REFUSED.test(error.message) ? { option: 'logins', problem: message, registry } : undefined,
      );
    }
    throw unreachable(docker, error) ?? new BuildError(oneLine(`build failed: ${engineMessage(error)}`));
  } finally {
    session?.close();
  }
  output.end();

  let inspected: Docker.ImageInspectInfo;
  try {
    inspected = await docker.getImage(options.imageName).inspect();
  } catch (error) {
    throw new BuildError(`the build finished but ${options.imageName} is not on the engine: ${engineMessage(error)}`);
  }
  if (imageId && imageId !== inspected.Id) {
    throw new BuildError(`the build reported image ${imageId} but ${options.imageName} is ${inspected.Id}`);
  }
  log.info(`Built ${options.imageName} (${inspected.Id})`);
  return { imageId: inspected.Id, imageName: options.imageName, builder, steps: output.steps, durationMs: Date.now() - started };
}

/**
 * The network for RUN steps. BuildKit knows only default/host/none, and its default is the engine's `bridge`
 * network: on an engine started without one (`--bridge=none`) every RUN fails with "network bridge not found",
 * while the classic builder's steps run without a network there. So on such an engine BuildKit's default is `none`.
 */
async function networkFor(
  docker: Docker,
  builder: 'buildkit' | 'classic',
  wanted: string | undefined,
  log: Log,
): Promise<string | undefined> {
  if (builder === 'classic') {
    const problem = wanted ? await networkProblem(docker, wanted).catch((error) => rethrowUnreachable(docker, error)) : undefined;
    if (problem) throw new BuildError(`network ${problem}`, { option: 'network', problem });
    return wanted;
  }
  if (wanted && !buildkitNetworks.has(wanted)) {
    const rule = "BuildKit runs build steps only in network 'default', 'host' or 'none'";
    throw new BuildError(`${rule}, not '${printable(wanted)}': use builder 'classic' for other networks`, {
      option: 'network',
      problem: `is '${printable(wanted)}', but ${rule}: use builder 'classic' for other networks`,
    });
  }
  if (wanted && wanted !== 'default') return wanted;
  const bridges = await docker.listNetworks({ filters: { name: ['bridge'] } }).catch((error) => rethrowUnreachable(docker, error));
  if (bridges.some((n) => n.Name === 'bridge')) return wanted;
  log.debug("the engine has no 'bridge' network: BuildKit steps run with network 'none', as classic builds do here");
  return 'none';
}

interface BuildOutput {
  /** Logs what the event says; returns the image id when the event announces it. */
  event(event: ProgressEvent): string | undefined;
  end(): void;
  /** The name of the step that failed, or was running when the build failed. */
  readonly failedStep: string | undefined;
  /** The Dockerfile steps done, and how many came from the cache. */
  readonly steps: { total: number; cached: number };
  /** The one-line message for a build that failed with `error`. */
  explain(error: string): string;
}

// The classic builder colours a step's stderr (ESC[91m … ESC[0m); the error line carries text only.
const ansiEscape = /\u001b\[[0-9;]*[A-Za-z]/g;

function tailText(lines: readonly string[]): string {
  const tail = lines
    .map((line) => line.replace(ansiEscape, '').trim())
    .filter(Boolean)
    .slice(-ERROR_TAIL_LINES)
    .map((line) => (line.length > ERROR_LINE_CHARS ? `${line.slice(0, ERROR_LINE_CHARS)}…` : line));
  return tail.length ? `; last output: ${tail.join(' | ')}` : '';
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').trim();
}

class BuildkitOutput implements BuildOutput {
  private readonly printer: TracePrinter;

  constructor(private readonly log: Log) {
    this.printer = new TracePrinter(log);
  }

  event(event: ProgressEvent): string | undefined {
    if (event.id === 'moby.buildkit.trace' && typeof event.aux === 'string') {
      try {
        this.printer.write(decodeTrace(event.aux));
      } catch (error) {
        this.log.debug(`undecodable BuildKit trace: ${(error as Error).message}`);
      }
      return undefined;
    }
    if (event.id === 'moby.image.id') return (event.aux as { ID?: string } | undefined)?.ID;
    if (event.stream) for (const line of event.stream.split(/\r?\n/)) if (line.trim()) this.log.info(line);
    return undefined;
  }

  end(): void {}

  get failedStep(): string | undefined {
    return this.printer.failedStep?.name;
  }

  get steps(): { total: number; cached: number } {
    return { ...this.printer.steps };
  }

  explain(error: string): string {
    const failed = this.printer.failedStep;
    if (failed) return oneLine(`build failed at ${failed.name}: ${failed.error}${tailText(failed.lastLines)}`);
    return oneLine(`build failed: ${error}`);
  }
}

class ClassicOutput implements BuildOutput {
  private partial = '';
  private step?: string;
  private stepLines: string[] = [];
  private readonly pulls = new Set<string>();
  readonly steps = { total: 0, cached: 0 };

  constructor(private readonly log: Log) {}

  event(event: ProgressEvent): string | undefined {
    if (typeof event.stream === 'string') {
      const lines = (this.partial + event.stream).split(/\r?\n/);
      this.partial = lines.pop() ?? '';
      for (const line of lines) this.line(line);
    }
    if (event.status) {
      // Pull progress: one line per layer state, not per byte count.
      const text = event.id ? `${event.id}: ${event.status}` : event.status;
      if (!event.progressDetail?.current && !this.pulls.has(text)) {
        this.pulls.add(text);
        this.log.info(text);
      }
    }
    const aux = event.aux as { ID?: string } | undefined;
    return aux && typeof aux === 'object' && typeof aux.ID === 'string' ? aux.ID : undefined;
  }

  private line(line: string): void {
    this.log.info(line);
    const text = line.replace(ansiEscape, '');
    if (/^Step \d+\/\d+ : /.test(text)) {
      this.step = text;
      this.stepLines = [];
      this.steps.total++;
    } else if (/^ ---> Using cache$/.test(text)) {
      this.steps.cached++;
    } else if (!/^ ---> /.test(text) && !/^Removing intermediate container /.test(text)) {
      this.stepLines.push(text);
      if (this.stepLines.length > 20) this.stepLines.shift();
    }
  }

  end(): void {
    if (this.partial) this.line(this.partial);
    this.partial = '';
  }

  get failedStep(): string | undefined {
    return this.step;
  }

  explain(error: string): string {
    this.end();
    if (this.step) return oneLine(`build failed at ${this.step}: ${error}${tailText(this.stepLines)}`);
    return oneLine(`build failed: ${error}`);
  }
}
