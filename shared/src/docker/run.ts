import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type Docker from 'dockerode';
import type { Log } from '../log';
import { printable } from '../reference';
import { folderWriteProblem } from '../writable';
import { extractArchive, UnsafeArchiveError } from './archive';
import { engineMessage, engineStatus, unreachable } from './engine';

export interface RunTestsOptions {
  /** The test-runner image (a reference or id on the engine; never pulled). */
  image: string;
  /** Folder inside the container the runner writes its result files to. */
  resultsPath?: string;
  /** Folder on the agent the result files are copied to (created if needed). */
  resultsDirectory: string;
  /** Replaces the image's CMD. */
  command?: string[];
  environment?: Record<string, string>;
  /** Network mode for the container; undefined is the engine's default. */
  network?: string;
  user?: string;
  /** The container is killed after this long. */
  timeoutMs?: number;
  /** Labels for the container (tests use them to find leftovers). */
  labels?: Record<string, string>;
  /** Aborting kills and removes the container; the run then throws. */
  signal?: AbortSignal;
}

/**
 * `passed`: exit code 0 with results. `testsFailed`: the runner ran and exited non-zero, results exist.
 * `couldNotRun`: image missing, engine unreachable, the container could not start, timed out, or left no results.
 */
export type TestOutcome = 'passed' | 'testsFailed' | 'couldNotRun';

/** An option of the run that a `couldNotRun` is down to; a task names the input of the same name. */
export interface RunOptionProblem {
  option: 'image' | 'resultsPath' | 'resultsDirectory' | 'command' | 'network' | 'user';
  /** What is wrong with it, the engine's words included, to follow `input '<option>' `: `is 'x', which …`. */
  problem: string;
}

export interface TestRunResult {
  outcome: TestOutcome;
  /** For a `couldNotRun` that a change of one option would fix: which one, and why. */
  blame?: RunOptionProblem;
  /** The runner's exit code; undefined when it never finished on its own. */
  exitCode?: number;
  resultsDirectory: string;
  /** Result files copied out, relative to `resultsDirectory`. */
  resultFiles: string[];
  /** One line for the task result: what happened and what to look at. */
  message: string;
}

export const DEFAULT_RESULTS_PATH = '/tests/TestResults';
/** The contract's default for `timeoutMinutes`. */
export const DEFAULT_TEST_TIMEOUT_MS = 60 * 60_000;

/** Feeds bytes in, hands complete lines to `emit`; `flush` hands over an unterminated last line. */
class LineSink {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly emit: (line: string) => void) {}

  write(chunk: Buffer | string): boolean {
    const lines = (this.partial + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk))).split(/\r?\n/);
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.emit(line);
    return true;
  }

  flush(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest) this.emit(rest);
  }
}

/**
 * Splits a command line into words as a POSIX shell would for a simple command: whitespace separates, single
 * quotes keep everything, double quotes keep all but `\"` and `\\`, a backslash outside quotes escapes one character.
 * No expansion happens. Throws on an unterminated quote.
 */
export function splitCommandLine(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in: ${text}`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && (text[j + 1] === '"' || text[j + 1] === '\\')) j++;
        word += text[j];
      }
      if (j >= text.length) throw new Error(`unterminated " in: ${text}`);
      inWord = true;
      i = j;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function couldNotRun(options: RunTestsOptions, reason: string, exitCode?: number, resultFiles: string[] = []): TestRunResult {
  return {
    outcome: 'couldNotRun',
    exitCode,
    resultsDirectory: options.resultsDirectory,
    resultFiles,
    message: `could not run the tests: ${reason}`,
  };
}

/** A `couldNotRun` (with `reason` in its message as ever) that a change of one option would fix. */
function blamed(options: RunTestsOptions, reason: string, blame: RunOptionProblem, exitCode?: number): TestRunResult {
  return { ...couldNotRun(options, reason, exitCode), blame };
}

/** Network modes the engine knows without a network of that name (`container:<id>` is checked apart). */
const BUILT_IN_NETWORK_MODES = new Set(['default', 'bridge', 'host', 'none']);

/**
 * Why the engine cannot attach a container to `network`, asked before anything is created (inspecting is no side
 * effect); undefined when it can, or when the engine will decide (its built-in modes).
 */
export async function networkProblem(docker: Docker, network: string): Promise<string | undefined> {
  if (BUILT_IN_NETWORK_MODES.has(network)) return undefined;
  if (network.startsWith('container:')) {
    const container = network.slice('container:'.length);
    try {
      await docker.getContainer(container).inspect();
      return undefined;
    } catch (error) {
      if (engineStatus(error) !== 404) throw error;
      return `is '${printable(network)}', but the engine has no container '${printable(container)}' to share the network of`;
    }
  }
  try {
    await docker.getNetwork(network).inspect();
    return undefined;
  } catch (error) {
    if (engineStatus(error) !== 404) throw error;
  }
  const known = (await docker.listNetworks()).map((n) => n.Name).sort();
  return `is '${printable(network)}', a network the engine does not have (it has: ${known.join(', ') || 'none'})`;
}

/**
 * The runtime's refusal to start the container's process, as the option at fault: the command (or the image's own,
 * when none was given) that cannot be executed, or a user or group the image does not have.
 */
function startProblem(options: RunTestsOptions, message: string): RunOptionProblem | undefined {
  // runc: `… unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown`
  const exec = /exec: ".*?": .*?(?=: unknown$|$)/.exec(message)?.[0];
  if (exec) {
    return options.command?.length
      ? { option: 'command', problem: `runs '${printable(options.command[0])}', which the container cannot start: ${exec}` }
      : {
          option: 'image',
          problem: `is '${printable(options.image)}', whose own command the container cannot start: ${exec} (set command to one it has)`,
        };
  }
  if (options.user && /unable to find (user|group) /.test(message)) {
    return { option: 'user', problem: `is '${printable(options.user)}', which the image cannot run as: ${message}` };
  }
  return undefined;
}

function minutes(ms: number): string {
  const m = ms / 60_000;
  const s = Math.round(ms / 1000);
  return Number.isInteger(m) ? `${m} minute${m === 1 ? '' : 's'}` : `${s} second${s === 1 ? '' : 's'}`;
}

/**
 * Runs the test-runner image: creates the container, streams its output to `log` line by line as it comes, waits
 * (killing it after `timeoutMs`), copies `resultsPath` out of the stopped container through the engine's archive API
 * into `resultsDirectory` (no bind mount, so it works with a remote engine and in container jobs), and always
 * removes the container. Before a container exists it checks what it can without a side effect: `resultsDirectory`
 * takes a file (written and removed, folders made for it removed again), the image is on the engine, the network
 * exists. A `couldNotRun` that one option would fix says which (`blame`). Returns the outcome; throws only when
 * `signal` aborts (after cleaning up).
 */
export async function runTests(docker: Docker, options: RunTestsOptions, log: Log): Promise<TestRunResult> {
  const resultsPath = options.resultsPath || DEFAULT_RESULTS_PATH;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
  const destinationProblem = folderWriteProblem(options.resultsDirectory);
  if (destinationProblem) {
    return blamed(options, `the results cannot be copied to ${options.resultsDirectory}: ${destinationProblem}`, {
      option: 'resultsDirectory',
      problem: `names '${options.resultsDirectory}', where the results cannot be copied: ${destinationProblem}`,
    });
  }
  let container: Docker.Container;
  try {
    try {
      await docker.getImage(options.image).inspect();
    } catch (error) {
      if (engineStatus(error) !== 404) throw error;
      const reason = `is not on the engine: build it first, with this agent's engine`;
      return blamed(options, `image '${printable(options.image)}' ${reason}`, {
        option: 'image',
        problem: `is '${printable(options.image)}', which ${reason}`,
      });
    }
    const network = options.network ? await networkProblem(docker, options.network) : undefined;
    if (network) return blamed(options, `network ${network}`, { option: 'network', problem: network });
    container = await docker.createContainer({
      Image: options.image,
      ...(options.command?.length ? { Cmd: options.command } : {}),
      Env: Object.entries(options.environment ?? {}).map(([key, value]) => `${key}=${value}`),
      ...(options.user ? { User: options.user } : {}),
      Labels: options.labels ?? {},
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      HostConfig: { ...(options.network ? { NetworkMode: options.network } : {}), AutoRemove: false },
    });
  } catch (error) {
    const down = unreachable(docker, error);
    if (down) return couldNotRun(options, down.message);
    return couldNotRun(options, `the container for '${options.image}' could not be created: ${engineMessage(error)}`);
  }

  const stdout = new LineSink((line) => log.info(line));
  const stderr = new LineSink((line) => log.info(line));
  let timedOut = false;
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  const kill = () => container.kill().catch((error) => log.debug(`kill ${container.id}: ${engineMessage(error)}`));
  const onAbort = () => {
    cancelled = true;
    void kill();
  };

  try {
    const output = (await container.attach({ stream: true, stdout: true, stderr: true })) as NodeJS.ReadableStream;
    const drained = new Promise<void>((resolve) => {
      output.on('end', resolve);
      output.on('close', resolve);
      output.on('error', (error: Error) => {
        log.debug(`container output stream: ${error.message}`);
        resolve();
      });
    });
    // demuxStream only calls write() on its sinks.
    docker.modem.demuxStream(output, stdout as unknown as NodeJS.WritableStream, stderr as unknown as NodeJS.WritableStream);

    try {
      await container.start();
    } catch (error) {
      const reason = `the container of '${options.image}' did not start: ${engineMessage(error)}`;
      const blame = startProblem(options, engineMessage(error));
      return blame ? blamed(options, reason, blame) : couldNotRun(options, reason);
    }
    log.debug(`container ${container.id.slice(0, 12)} of ${options.image} started`);
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(() => {
      timedOut = true;
      log.warn(`the tests ran longer than ${minutes(timeoutMs)}: killing the container`);
      void kill();
    }, timeoutMs);

    const { StatusCode: exitCode } = (await container.wait()) as { StatusCode: number };
    clearTimeout(timer);
    await drained;
    stdout.flush();
    stderr.flush();

    if (cancelled) throw new Error(`the test run of '${options.image}' was cancelled; its container was removed`);
    if (timedOut) return couldNotRun(options, `the tests did not finish within ${minutes(timeoutMs)}; the container was killed`);

    let resultFiles: string[] | undefined;
    try {
      resultFiles = await copyResults(container, resultsPath, options.resultsDirectory, log);
    } catch (error) {
      if (error instanceof UnsafeArchiveError)
        return couldNotRun(options, `the results in ${resultsPath} are unsafe to copy: ${error.message}`, exitCode);
      return couldNotRun(options, `the results could not be copied out of ${resultsPath}: ${engineMessage(error)}`, exitCode);
    }
    const noResults = `the runner exited with code ${exitCode} and left no result files in ${resultsPath}`;
    if (resultFiles === undefined) {
      const problem = `is '${resultsPath}', which the container does not have after the run (the runner exited with code ${exitCode}): set it to the folder the runner writes its results to`;
      return blamed(options, noResults, { option: 'resultsPath', problem }, exitCode);
    }
    if (resultFiles.length === 0) return couldNotRun(options, noResults, exitCode);
    log.info(
      `Copied ${resultFiles.length} result file${resultFiles.length === 1 ? '' : 's'} from ${resultsPath} to ${options.resultsDirectory}`,
    );
    if (exitCode === 0) {
      return { outcome: 'passed', exitCode, resultsDirectory: options.resultsDirectory, resultFiles, message: 'the tests passed' };
    }
    return {
      outcome: 'testsFailed',
      exitCode,
      resultsDirectory: options.resultsDirectory,
      resultFiles,
      message: `tests failed: the runner exited with code ${exitCode}; see the ${resultFiles.length} result file${resultFiles.length === 1 ? '' : 's'} in ${options.resultsDirectory}`,
    };
  } catch (error) {
    if (cancelled) throw error;
    const down = unreachable(docker, error);
    if (down) return couldNotRun(options, down.message);
    return couldNotRun(options, `the engine failed during the test run: ${engineMessage(error)}`);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    await container.remove({ force: true, v: true }).catch((error: unknown) => {
      if (engineStatus(error) !== 404) log.warn(`could not remove test container ${container.id.slice(0, 12)}: ${engineMessage(error)}`);
    });
  }
}

/** Copies `resultsPath` out of the (stopped) container; undefined when the container has no such path. */
async function copyResults(container: Docker.Container, resultsPath: string, destination: string, log: Log): Promise<string[] | undefined> {
  let archive: NodeJS.ReadableStream;
  try {
    archive = await container.getArchive({ path: resultsPath });
  } catch (error) {
    if (engineStatus(error) === 404) {
      log.debug(`${resultsPath} does not exist in the container: ${engineMessage(error)}`);
      return undefined;
    }
    throw error;
  }
  const root = path.posix.basename(path.posix.normalize(resultsPath)) || undefined;
  const { files } = await extractArchive(archive, destination, log, { stripRoot: root });
  return files;
}
