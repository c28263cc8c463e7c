import type { Log } from '../log';
import { fieldBytes, fieldNumber, fieldString, readFields } from './protowire';

// A BuildKit build through the engine API reports progress as `{"id":"moby.buildkit.trace","aux":"<base64>"}` events,
// each a moby.buildkit.v1.StatusResponse (api/services/control/control.proto in moby/buildkit). Only the fields a
// readable log needs are decoded.

export interface TraceVertex {
  digest: string;
  name: string;
  cached: boolean;
  started?: number;
  completed?: number;
  error: string;
}

export interface TraceStatus {
  id: string;
  vertex: string;
  name: string;
  current: number;
  total: number;
  completed?: number;
}

export interface TraceLog {
  vertex: string;
  timestamp?: number;
  data: Buffer;
}

export interface StatusResponse {
  vertexes: TraceVertex[];
  statuses: TraceStatus[];
  logs: TraceLog[];
  warnings: Array<{ vertex: string; short: string }>;
}

/** google.protobuf.Timestamp as milliseconds since the epoch. */
function timestamp(value: number | Buffer): number {
  let seconds = 0;
  let nanos = 0;
  for (const f of readFields(fieldBytes(value))) {
    if (f.field === 1) seconds = fieldNumber(f.value);
    else if (f.field === 2) nanos = fieldNumber(f.value);
  }
  return seconds * 1000 + Math.floor(nanos / 1e6);
}

function vertex(buf: Buffer): TraceVertex {
  const v: TraceVertex = { digest: '', name: '', cached: false, error: '' };
  for (const f of readFields(buf)) {
    if (f.field === 1) v.digest = fieldString(f.value);
    else if (f.field === 3) v.name = fieldString(f.value);
    else if (f.field === 4) v.cached = fieldNumber(f.value) !== 0;
    else if (f.field === 5) v.started = timestamp(f.value);
    else if (f.field === 6) v.completed = timestamp(f.value);
    else if (f.field === 7) v.error = fieldString(f.value);
  }
  return v;
}

function status(buf: Buffer): TraceStatus {
  const s: TraceStatus = { id: '', vertex: '', name: '', current: 0, total: 0 };
  for (const f of readFields(buf)) {
    if (f.field === 1) s.id = fieldString(f.value);
    else if (f.field === 2) s.vertex = fieldString(f.value);
    else if (f.field === 3) s.name = fieldString(f.value);
    else if (f.field === 4) s.current = fieldNumber(f.value);
    else if (f.field === 5) s.total = fieldNumber(f.value);
    else if (f.field === 8) s.completed = timestamp(f.value);
  }
  return s;
}

function vertexLog(buf: Buffer): TraceLog {
  const l: TraceLog = { vertex: '', data: Buffer.alloc(0) };
  for (const f of readFields(buf)) {
    if (f.field === 1) l.vertex = fieldString(f.value);
    else if (f.field === 2) l.timestamp = timestamp(f.value);
    else if (f.field === 4) l.data = fieldBytes(f.value);
  }
  return l;
}

function warning(buf: Buffer): { vertex: string; short: string } {
  const w = { vertex: '', short: '' };
  for (const f of readFields(buf)) {
    if (f.field === 1) w.vertex = fieldString(f.value);
    else if (f.field === 3) w.short = fieldString(f.value);
  }
  return w;
}

/** Decodes the `aux` of a `moby.buildkit.trace` event (base64 of a StatusResponse). */
export function decodeTrace(aux: string): StatusResponse {
  const response: StatusResponse = { vertexes: [], statuses: [], logs: [], warnings: [] };
  for (const f of readFields(Buffer.from(aux, 'base64'))) {
    const bytes = fieldBytes(f.value);
    if (f.field === 1) response.vertexes.push(vertex(bytes));
    else if (f.field === 2) response.statuses.push(status(bytes));
    else if (f.field === 3) response.logs.push(vertexLog(bytes));
    else if (f.field === 4) response.warnings.push(warning(bytes));
  }
  return response;
}

/** How many output lines of a step are kept to explain its failure. */
const FAILED_STEP_TAIL_LINES = 8;

interface VertexState {
  number: number;
  name: string;
  started?: number;
  announced: boolean;
  done: boolean;
  partial: string;
  tail: string[];
}

/** BuildKit's name for a vertex that is a Dockerfile instruction: `[2/3] RUN …`, `[build 1/4] FROM …`. */
const DOCKERFILE_STEP = /^\[(?:[^\]\s]+ )?\d+\/\d+\] /;

/** The step that failed and the last lines it printed, for the one-line error a failed build ends with. */
export interface FailedStep {
  name: string;
  error: string;
  lastLines: string[];
}

/**
 * Turns BuildKit trace events into the plain log `docker buildx build --progress=plain` prints: `#N <step>` once per
 * step, its output lines as `#N <seconds> <line>`, then `#N DONE 0.3s`, `#N CACHED` or `#N ERROR: …`.
 */
export class TracePrinter {
  private readonly vertexes = new Map<string, VertexState>();
  private readonly statusDone = new Set<string>();
  private failed?: FailedStep;
  /** Dockerfile steps (`[2/3] RUN …`, `[stage 1/2] FROM …`; not BuildKit's `[internal]` ones) done, and those cached. */
  readonly steps = { total: 0, cached: 0 };

  constructor(private readonly log: Log) {}

  /** The first step BuildKit reported as failed, with its last output lines. */
  get failedStep(): FailedStep | undefined {
    return this.failed;
  }

  write(response: StatusResponse): void {
    // Names first, then output, then completions: one response can carry a step's last lines and its end.
    for (const v of response.vertexes) {
      const state = this.state(v.digest, v.name);
      if (v.started !== undefined) state.started ??= v.started;
      // A step is listed when it starts (or ends, if it never ran): queued steps stay quiet, as buildx does.
      if (v.started !== undefined || v.completed !== undefined) this.announce(state);
    }
    for (const l of response.logs) {
      const state = this.state(l.vertex, '');
      this.announce(state);
      const lines = (state.partial + l.data.toString('utf8')).split(/\r?\n|\r/);
      state.partial = lines.pop() ?? '';
      for (const line of lines) this.line(state, line, l.timestamp);
    }
    for (const s of response.statuses) {
      if (s.completed === undefined || this.statusDone.has(s.id)) continue;
      this.statusDone.add(s.id);
      const state = this.state(s.vertex, '');
      const size = s.total ? ` ${formatBytes(s.total)}` : s.current ? ` ${formatBytes(s.current)}` : '';
      this.log.info(`#${state.number} ${s.name || s.id}${size} done`);
    }
    for (const w of response.warnings) {
      this.log.warn(`#${this.state(w.vertex, '').number} ${w.short}`);
    }
    for (const v of response.vertexes) {
      const state = this.state(v.digest, v.name);
      if (v.completed === undefined || state.done) continue;
      state.done = true;
      this.flush(state);
      if (DOCKERFILE_STEP.test(state.name)) {
        this.steps.total++;
        if (v.cached && !v.error) this.steps.cached++;
      }
      if (v.error) {
        this.log.info(`#${state.number} ERROR: ${v.error}`);
        // Steps running beside the failing one end as "context canceled"; the cause is the step that did not.
        if (!this.failed || (/context canceled/i.test(this.failed.error) && !/context canceled/i.test(v.error))) {
          this.failed = { name: state.name, error: v.error, lastLines: [...state.tail] };
        }
      } else if (v.cached) {
        this.log.info(`#${state.number} CACHED`);
      } else {
        const seconds = state.started !== undefined ? ((v.completed - state.started) / 1000).toFixed(1) : '0.0';
        this.log.info(`#${state.number} DONE ${seconds}s`);
      }
    }
  }

  private state(digest: string, name: string): VertexState {
    let state = this.vertexes.get(digest);
    if (!state) {
      state = { number: this.vertexes.size + 1, name, announced: false, done: false, partial: '', tail: [] };
      this.vertexes.set(digest, state);
    }
    if (name && !state.name) state.name = name;
    return state;
  }

  private announce(state: VertexState): void {
    if (state.announced || !state.name) return;
    state.announced = true;
    this.log.info(`#${state.number} ${state.name}`);
  }

  private line(state: VertexState, line: string, at?: number): void {
    const seconds = at !== undefined && state.started !== undefined ? ` ${((at - state.started) / 1000).toFixed(3)}` : '';
    this.log.info(`#${state.number}${seconds} ${line}`);
    state.tail.push(line);
    if (state.tail.length > FAILED_STEP_TAIL_LINES) state.tail.shift();
  }

  private flush(state: VertexState): void {
    if (state.partial) this.line(state, state.partial);
    state.partial = '';
  }
}

function formatBytes(n: number): string {
  if (n < 1000) return `${n}B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(2)}kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(2)}MB`;
  return `${(n / 1e9).toFixed(2)}GB`;
}
