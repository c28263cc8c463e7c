// Runs a bundled task the way the agent does (../shared/TASKS.md, "How the agent runs a task"): task.json defaults
// filled in, $(Variable) macros expanded, INPUT_* / ENDPOINT_* / variables in the environment, `node <target>`;
// the ##vso commands on stdout are parsed back with task-lib's own parser.
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { commandFromString } from 'azure-pipelines-task-lib/taskcommand';
import { repoRoot } from './env';
import { handlerNode, suiteHandler, type Handler } from './handlers';

export interface Endpoint {
  id: string;
  url: string;
  scheme?: string;
  parameters: Record<string, string>;
  data?: Record<string, string>;
}

export interface RunOptions {
  inputs?: Record<string, string>;
  endpoints?: Endpoint[];
  /** Pipeline variables by their dotted names (`Build.BuildId`); they also expand `$(…)` macros in inputs. */
  variables?: Record<string, string>;
  secretVariables?: Record<string, string>;
  env?: Record<string, string>;
  cwd?: string;
  /**
   * Sends SIGTERM, as the agent does on cancel, once this holds (asked every CANCEL_POLL_MS while the task runs):
   * a state the test can see (a stalled call reached the server, the container is running), never a fixed delay,
   * which a loaded machine outruns.
   */
  cancelWhen?: () => boolean | Promise<boolean>;
  /** Which execution handler of task.json the agent picks (default: the suite's, OUTERLOOP_TASK_HANDLER). */
  handler?: Handler;
  /**
   * How the agent reads the task's stdout. `fast` reads as it comes; `late` leaves the pipe unread for
   * LATE_READER_DELAY_MS and then reads it slowly, as a busy agent does: a task that exits before its queued writes
   * reach the pipe loses them.
   */
  reader?: 'fast' | 'late';
}

/** The late reader's fixed numbers: nobody reads for 1.5 s, then 16 KiB per 20 ms (800 KiB/s). */
export const LATE_READER_DELAY_MS = 1500;
export const LATE_READER_CHUNK_BYTES = 16 * 1024;
export const LATE_READER_PACE_MS = 20;

export interface TaskCommand {
  command: string;
  properties: Record<string, string>;
  message: string;
}

export interface TaskRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  result?: 'Succeeded' | 'SucceededWithIssues' | 'Failed' | 'Cancelled' | 'Skipped';
  /** The task.complete message (the one-line reason). */
  message: string;
  outputs: Record<string, string>;
  secrets: string[];
  warnings: string[];
  errors: string[];
  commands: TaskCommand[];
  /** stdout lines that are not ##vso commands: what a person reads in the log. */
  lines: string[];
  /** Files the task was given as its temp and working folders, to search for leftovers. */
  tempDirectory: string;
  /** The handler the task ran under and the Node version the task itself reported (`process.version`). */
  handler: Handler;
  nodeVersion?: string;
  /** What kept the process alive after its result, when runTask had to end it (its `ending with handles` debug line). */
  lingeringHandles?: string;
}

export function bundledTaskDir(task: string): string {
  return path.join(repoRoot, 'dist', 'tasks', task);
}

export function readTaskJson(task: string, fromSource = false): any {
  const dir = fromSource ? path.join(repoRoot, 'tasks', task) : bundledTaskDir(task);
  return JSON.parse(fs.readFileSync(path.join(dir, 'task.json'), 'utf8'));
}

/** Agent variable name → environment name: upper case, `.` and space become `_`. */
export function variableEnvName(name: string): string {
  return name.replace(/[. ]/g, '_').toUpperCase();
}

/**
 * `$(name)` macros expanded as the agent's Variables.ExpandValues does: each `$(` up to the next `)` is looked up (names
 * are case-insensitive); an unknown one is left as it is and the scan goes on from the next character, so the
 * `$(Pipeline.Workspace)` inside a shell's `$(cat "$(Pipeline.Workspace)/x")` is still expanded; an inserted value is
 * never expanded again.
 */
export function expandMacros(value: string, variables: Record<string, string>): string {
  const byLower = new Map(Object.entries(variables).map(([k, v]) => [k.toLowerCase(), v]));
  let text = value;
  let start = 0;
  for (;;) {
    const prefix = text.indexOf('$(', start);
    if (prefix < 0) return text;
    const suffix = text.indexOf(')', prefix + 2);
    if (suffix < 0) return text;
    const replacement = byLower.get(text.slice(prefix + 2, suffix).toLowerCase());
    if (replacement === undefined) {
      start = prefix + 1;
    } else {
      text = `${text.slice(0, prefix)}${replacement}${text.slice(suffix + 1)}`;
      start = prefix + replacement.length;
    }
  }
}

export function parseCommands(stdout: string): { commands: TaskCommand[]; lines: string[] } {
  const commands: TaskCommand[] = [];
  const lines: string[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const at = line.indexOf('##vso[');
    if (at < 0) {
      if (line.length) lines.push(line);
      continue;
    }
    const parsed = commandFromString(line.slice(at));
    commands.push({ command: parsed.command, properties: parsed.properties ?? {}, message: parsed.message ?? '' });
  }
  return { commands, lines };
}

const agentTempDirectories: string[] = [];

/** Removes every agent temp folder the runs made; the root hook calls it once, after tests have inspected them. */
export function removeAgentTempDirectories(): void {
  for (const dir of agentTempDirectories.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

export async function runBundledTask(task: string, options: RunOptions = {}): Promise<TaskRun> {
  const dir = bundledTaskDir(task);
  const taskJson = readTaskJson(task);
  const tempDirectory = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-agent-'));
  agentTempDirectories.push(tempDirectory);
  const variables: Record<string, string> = {
    'Agent.TempDirectory': tempDirectory,
    'Agent.WorkFolder': tempDirectory,
    'Build.BuildId': '4711',
    'Build.ArtifactStagingDirectory': path.join(tempDirectory, 'a'),
    'Common.TestResultsDirectory': path.join(tempDirectory, 'TestResults'),
    'System.DefaultWorkingDirectory': options.cwd ?? tempDirectory,
    ...options.variables,
  };
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    // The agent starts a task with a clean slate of task variables; keep the parent's INPUT_/ENDPOINT_ out.
    if (value !== undefined && !/^(INPUT|ENDPOINT|SECRET)_/.test(key)) env[key] = value;
  }
  for (const [name, value] of Object.entries(variables)) env[variableEnvName(name)] = value;
  for (const [name, value] of Object.entries(options.secretVariables ?? {})) env[`SECRET_${variableEnvName(name)}`] = value;
  for (const input of taskJson.inputs ?? []) {
    const given = options.inputs?.[input.name];
    const value = given ?? (input.defaultValue === undefined ? '' : String(input.defaultValue));
    env[`INPUT_${variableEnvName(input.name)}`] = expandMacros(value, { ...variables, ...options.secretVariables });
  }
  for (const [name, value] of Object.entries(options.inputs ?? {})) {
    if (!(taskJson.inputs ?? []).some((input: { name: string }) => input.name === name)) {
      throw new Error(`${task} has no input '${name}' (task.json)`);
    }
    void value;
  }
  for (const endpoint of options.endpoints ?? []) {
    env[`ENDPOINT_URL_${endpoint.id}`] = endpoint.url;
    env[`ENDPOINT_AUTH_${endpoint.id}`] = JSON.stringify({
      scheme: endpoint.scheme ?? 'UsernamePassword',
      parameters: endpoint.parameters,
    });
    env[`ENDPOINT_AUTH_SCHEME_${endpoint.id}`] = endpoint.scheme ?? 'UsernamePassword';
    for (const [key, value] of Object.entries(endpoint.parameters))
      env[`ENDPOINT_AUTH_PARAMETER_${endpoint.id}_${key.toUpperCase()}`] = value;
    for (const [key, value] of Object.entries(endpoint.data ?? {})) env[`ENDPOINT_DATA_${endpoint.id}_${key.toUpperCase()}`] = value;
  }
  Object.assign(env, options.env);

  const handler = options.handler ?? suiteHandler();
  const execution = taskJson.execution?.[handler];
  if (!execution?.target) throw new Error(`${task} declares no ${handler} handler (task.json execution)`);
  const node = handlerNode(handler);
  const child = spawn(node.execPath, [path.join(dir, execution.target)], {
    cwd: options.cwd ?? tempDirectory,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const err: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
  const out = options.reader === 'late' ? readLate(child.stdout) : readFast(child.stdout);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  if (options.cancelWhen) void cancelWhen(options.cancelWhen, child, exited).catch(() => child.kill('SIGTERM'));
  const exitCode = await exited;
  // Whatever the task left in the pipe is still read; what it never wrote before exiting is lost, as on an agent.
  const outBuffers = await out;
  await new Promise<void>((resolve) => (child.stderr.readableEnded ? resolve() : child.stderr.once('close', () => resolve())));

  const stdout = Buffer.concat(outBuffers).toString('utf8');
  const stderr = Buffer.concat(err).toString('utf8');
  const { commands, lines } = parseCommands(stdout);
  const nodeVersion = reportedNodeVersion(commands);
  if (nodeVersion && Number(nodeVersion.slice(1).split('.')[0]) !== node.major) {
    throw new Error(`${task} ran under ${handler} but reported Node ${nodeVersion}`);
  }
  const complete = commands.filter((c) => c.command === 'task.complete').pop();
  const outputs: Record<string, string> = {};
  for (const c of commands) {
    if (c.command === 'task.setvariable' && c.properties.isOutput === 'true') outputs[c.properties.variable] = c.message;
  }
  return {
    exitCode,
    stdout,
    stderr,
    result: complete?.properties.result as TaskRun['result'],
    message: complete?.message ?? '',
    outputs,
    secrets: commands.filter((c) => c.command === 'task.setsecret').map((c) => c.message),
    warnings: commands.filter((c) => c.command === 'task.issue' && c.properties.type === 'warning').map((c) => c.message),
    errors: commands.filter((c) => c.command === 'task.issue' && c.properties.type === 'error').map((c) => c.message),
    commands,
    lines,
    tempDirectory,
    handler,
    nodeVersion,
    lingeringHandles: commands.find((c) => c.command === 'task.debug' && c.message.startsWith('ending with handles still open'))?.message,
  };
}

const CANCEL_POLL_MS = 100;

async function cancelWhen(condition: () => boolean | Promise<boolean>, child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  let running = true;
  void exited.then(() => (running = false));
  while (running) {
    if (await condition()) {
      if (running) child.kill('SIGTERM');
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, CANCEL_POLL_MS));
  }
}

function readFast(stream: NodeJS.ReadableStream): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve) => stream.once('close', () => resolve(chunks)));
}

async function readLate(stream: NodeJS.ReadableStream): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  let closed = false;
  let wake: () => void = () => {};
  // A 'readable' listener keeps the stream paused (at most its buffer is read ahead, as an agent's pipe reader does)
  // and tells child_process not to discard unread output when the task exits.
  stream.on('readable', () => wake());
  stream.once('close', () => {
    closed = true;
    wake();
  });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  await sleep(LATE_READER_DELAY_MS);
  for (;;) {
    const available = (stream as NodeJS.ReadableStream & { readableLength: number }).readableLength;
    const chunk = (available > 0 ? stream.read(Math.min(available, LATE_READER_CHUNK_BYTES)) : stream.read()) as Buffer | null;
    if (chunk) {
      chunks.push(chunk);
      await sleep(LATE_READER_PACE_MS);
    } else if (closed) {
      return chunks;
    } else {
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }
}

/** runTask reports the Node it runs on in its first debug line (`running on Node v24.…`). */
function reportedNodeVersion(commands: TaskCommand[]): string | undefined {
  for (const c of commands) {
    const match = c.command === 'task.debug' ? /^running on Node (v\d+\.\d+\.\d+)/.exec(c.message) : null;
    if (match) return match[1];
  }
  return undefined;
}

/** Every file under `dir` whose bytes contain any of `needles`; for secret-leak checks. */
export function filesContaining(dir: string, needles: string[]): string[] {
  const found: string[] = [];
  const walk = (current: string) => {
    if (!fs.existsSync(current)) return;
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) {
        const bytes = fs.readFileSync(full);
        if (needles.some((needle) => needle && bytes.includes(needle))) found.push(full);
      }
    }
  };
  walk(dir);
  return found;
}

/** A one-paragraph account of a run, for assertion messages. */
export function describeRun(run: TaskRun): string {
  return `result=${run.result} message=${JSON.stringify(run.message)}\n--- stdout\n${run.stdout.slice(-4000)}\n--- stderr\n${run.stderr.slice(-2000)}`;
}

let bundled: Promise<void> | undefined;
/** Builds dist/tasks once per test process, so a single test file can be run on its own (`npm test` builds first). */
export function bundleOnce(): Promise<void> {
  bundled ??= new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'build', 'bundle.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`build/bundle.mjs exited ${code}`))));
  });
  return bundled;
}

/** A Docker Registry service connection as the agent hands it to a task (type Others, UsernamePassword). */
export function registryEndpoint(id: string, url: string, user: { username: string; password: string }): Endpoint {
  return {
    id,
    url,
    scheme: 'UsernamePassword',
    parameters: { registry: url, username: user.username, password: user.password, email: 'ci@example.test' },
    data: { registrytype: 'Others' },
  };
}

/** `text` with every regular-expression metacharacter escaped, to embed hosts, paths and fingerprints in a pattern. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A failed run as the standard wants it: Failed, one line matching `pattern`, no stack trace, exit code 0. */
export function assertFailedCleanly(run: TaskRun, pattern: RegExp): void {
  assert.equal(run.result, 'Failed', describeRun(run));
  assert.match(run.message, pattern, describeRun(run));
  assert.doesNotMatch(run.message, /[\r\n]/, 'the result is one line');
  assert.doesNotMatch(run.stdout + run.stderr, /^\s+at .+:\d+:\d+\)?$/m, `no stack trace\n${describeRun(run)}`);
  assert.equal(run.exitCode, 0, 'a failed task still exits 0 and reports through task.complete');
}

/** None of `secrets` in raw stdout/stderr or in any file under the run's temp folder, and none sent as setsecret. */
export function assertNoSecrets(run: TaskRun, secrets: string[]): void {
  const raw = run.stdout + run.stderr;
  for (const secret of secrets) assert.ok(!raw.includes(secret), `a secret reached the output (${secret.slice(0, 4)}…)`);
  assert.deepEqual(filesContaining(run.tempDirectory, secrets), [], 'a secret was left in a file');
  assert.deepEqual(run.secrets, [], 'nothing sent as ##vso[task.setsecret]: that would print the value on raw stdout');
}

/**
 * The one run summary a run attached: exactly one `task.uploadsummary`, naming a Markdown file under the run's
 * Agent.TempDirectory that still exists now the process has exited (the agent uploads it later). Its title is the
 * file name less `.md`, as the Extensions tab shows it.
 */
export function uploadedSummary(run: TaskRun): { file: string; title: string; markdown: string } {
  const uploads = run.commands.filter((c) => c.command === 'task.uploadsummary');
  assert.equal(uploads.length, 1, `one task.uploadsummary\n${describeRun(run)}`);
  const file = uploads[0].message;
  assert.ok(path.isAbsolute(file) && file.endsWith('.md'), file);
  const relative = path.relative(run.tempDirectory, file);
  assert.ok(!relative.startsWith('..') && !path.isAbsolute(relative), `${file} is under Agent.TempDirectory ${run.tempDirectory}`);
  assert.ok(fs.existsSync(file), `${file} is left for the agent to upload after the task exited`);
  return { file, title: path.basename(file, '.md'), markdown: fs.readFileSync(file, 'utf8') };
}

/** `~/.docker` as text (paths and file contents), to prove a task wrote no credentials there. */
export function dockerConfigSnapshot(): string {
  const dir = path.join(os.homedir(), '.docker');
  if (!fs.existsSync(dir)) return '(absent)';
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((d) => `${path.join(d.parentPath, d.name)}:${d.isFile() ? fs.readFileSync(path.join(d.parentPath, d.name), 'utf8') : ''}`)
    .sort()
    .join('\n');
}
