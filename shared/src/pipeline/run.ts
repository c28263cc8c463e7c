// network first: it takes the agent's proxy password out of task-lib's sight before task-lib loads (network-secrets.ts).
import { readAgentNetwork } from './network';
import { agent, TaskResult } from './agent';
import type { Log } from '../log';
import type { NetworkOptions } from '../net/network';
import { defang } from './defang';
import { redact, registerSecret } from './secrets';
import { writeSummaryFile } from './summary';
import type { InputSource } from './inputs';

/** What a task body gets: typed access to the agent, with no other way to talk to it. */
export interface TaskContext {
  inputs: InputSource;
  outputs: { set(name: string, value: string): void };
  variables: { get(name: string): string | undefined };
  log: Log;
  /** A raw logging command, e.g. `artifact.upload`, `results.publish`, `task.uploadsummary`. */
  command: (name: string, properties: Record<string, string>, message: string) => void;
  /**
   * Ends the task as SucceededWithIssues (unless it fails) with this line among the reasons. Each reason is warned
   * once; pass `{ warned: true }` when the core has already warned it, so the log does not repeat it.
   */
  issues: (message: string, options?: { warned?: boolean }) => void;
  /** Aborted when the agent cancels the job (SIGINT/SIGTERM), so the core can clean up before it exits. */
  signal: AbortSignal;
  /** The agent's proxy and certificates for every outbound call; read on first use (a bad setting fails the task). */
  network: NetworkOptions;
  /** Attaches a Markdown section titled `title` to the run's summary page (`task.uploadsummary`). */
  summary: (title: string, markdown: string) => void;
  /**
   * Uploads `file` as the build artifact `name` (`artifact.upload`) and returns true; where the agent takes no
   * artifact uploads (a classic release: System.HostType is not `build`) says so in the log and returns false.
   */
  publishArtifact: (name: string, file: string) => boolean;
}

/** What every line the task prints goes through: secrets masked, then `##vso[` from outside defanged. */
export function sanitize(text: string): string {
  return defang(redact(text));
}

/**
 * The agent lists every warning issue on the run's summary page; past this many a run's own warnings would bury
 * everything else, so further warnings are plain log lines and one closing warning counts them.
 */
export const MAX_WARNING_ISSUES = 20;
let warningsLogged = 0;

function warn(line: string): void {
  warningsLogged++;
  if (warningsLogged <= MAX_WARNING_ISSUES) agent.warning(line);
  else console.log(`warning: ${line}`);
}

/** One warning that counts those beyond MAX_WARNING_ISSUES, if any. */
function warnHowManyMore(): void {
  const more = warningsLogged - MAX_WARNING_ISSUES;
  if (more > 0) agent.warning(`and ${more} more warning${more === 1 ? '' : 's'}: see the lines starting 'warning:' in the log`);
}

/** `reasons` as one result line: the first MAX_WARNING_ISSUES, then how many more. */
function joinReasons(reasons: string[]): string {
  const shown = reasons.slice(0, MAX_WARNING_ISSUES).join(' ');
  return reasons.length > MAX_WARNING_ISSUES ? `${shown} (and ${reasons.length - MAX_WARNING_ISSUES} more)` : shown;
}

/** The log every task writes through: lines from outside are sanitized here, once, for all of them. */
export const agentLog: Log = {
  info: (line) => console.log(sanitize(line)),
  warn: (line) => warn(sanitize(line)),
  debug: (line) => agent.debug(sanitize(line)),
  secret: registerSecret,
};

const agentInputs: InputSource = { get: (name) => agent.getInput(name) };

/** How long a finished task waits for leftover handles (keep-alive sockets, a stray timer) before it ends anyway. */
const LINGER_AFTER_RESULT_MS = 2_000;

/** Resolves once everything written to `stream` so far has been handed to the operating system. */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) return resolve();
    // Writes are queued in order: the callback of an empty write runs after every earlier write has been flushed.
    stream.write('', () => resolve());
  });
}

/**
 * Ends the process once stdout and stderr have drained. On Linux a pipe is written asynchronously: exiting while the
 * agent has not read the pipe yet would drop the queued tail, `task.complete` included, and an exit code 0 without
 * it reads as Succeeded. The process then ends by itself; a handle the core left open only delays it by
 * LINGER_AFTER_RESULT_MS, and by then nothing is left to lose.
 */
async function endWhenDrained(): Promise<void> {
  process.exitCode = 0;
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  setTimeout(() => {
    // Named so that a test (and System.Debug) shows what was left open; fixing that beats this fallback.
    agent.debug(`ending with handles still open: ${process.getActiveResourcesInfo().join(', ')}`);
    void Promise.all([drained(process.stdout), drained(process.stderr)]).then(() => process.exit(0));
  }, LINGER_AFTER_RESULT_MS).unref();
}

/**
 * Runs a task body and reports its result. This is the one place an error becomes `Failed`: its message is the
 * result line (its first line; further lines are printed above it), with the stack only when `System.Debug` is true.
 */
export function runTask(body: (ctx: TaskContext) => Promise<void>): void {
  // The agent masks a secret variable in the log, but not in files a task writes (a run summary): one typed into an
  // input (`command: run --token $(apiToken)`) reaches the task in clear, so every secret variable it handed over
  // (SECRET_<NAME>) is masked here too, before task-lib takes them out of the environment.
  for (const [name, value] of Object.entries(process.env)) if (name.startsWith('SECRET_')) registerSecret(value);
  agent.debug(`running on Node ${process.version}`);
  const cancel = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => cancel.abort(new Error('the job was cancelled')));
  }
  const issues: { message: string; warned: boolean }[] = [];
  let network: NetworkOptions | undefined;
  const ctx: TaskContext = {
    inputs: agentInputs,
    outputs: { set: (name, value) => agent.setOutput(name, value) },
    variables: { get: (name) => agent.getVariable(name) },
    log: agentLog,
    command: (name, properties, message) => agent.command(name, properties, redact(message)),
    issues: (message, options) => void issues.push({ message: sanitize(message), warned: options?.warned ?? false }),
    signal: cancel.signal,
    get network() {
      return (network ??= readAgentNetwork(agentLog));
    },
    summary: (title, markdown) =>
      agent.command('task.uploadsummary', {}, writeSummaryFile(agent.getVariable('Agent.TempDirectory'), title, markdown)),
    publishArtifact: (name, file) => {
      // The agent fails the step on an artifact command outside a build (its artifact commands support HostTypes.Build
      // only); YAML pipelines, deployment jobs included, are builds.
      const hostType = (agent.getVariable('System.HostType') ?? 'build').toLowerCase();
      if (hostType !== 'build') {
        agentLog.info(`${file} is not published as artifact '${name}': this job is a ${hostType}, where the agent uploads no artifacts`);
        return false;
      }
      agent.command('artifact.upload', { containerfolder: name, artifactname: name }, file);
      return true;
    },
  };
  body(ctx)
    .then(
      () => {
        if (issues.length > 0) {
          // Not tl.setResult: it warns its whole message again, repeating every reason the log already shows.
          for (const issue of issues) if (!issue.warned) warn(issue.message);
          warnHowManyMore();
          agent.command(
            'task.complete',
            { result: 'SucceededWithIssues', done: 'true' },
            joinReasons(issues.map((issue) => issue.message)),
          );
        } else {
          warnHowManyMore();
          agent.setResult(TaskResult.Succeeded, '');
        }
      },
      (error: unknown) => {
        const text = sanitize(error instanceof Error ? error.message : String(error)).trim() || 'the task failed';
        const [first, ...rest] = text.split(/\r?\n/);
        for (const line of rest) console.log(line);
        if (error instanceof Error && error.stack && (agent.getVariable('System.Debug') ?? '').toLowerCase() === 'true') {
          for (const line of sanitize(error.stack).split(/\r?\n/)) agent.debug(line);
        }
        warnHowManyMore();
        agent.setResult(cancel.signal.aborted ? TaskResult.Cancelled : TaskResult.Failed, first);
      },
    )
    .then(endWhenDrained, endWhenDrained);
}
