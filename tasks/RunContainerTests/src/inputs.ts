import * as path from 'node:path';
import { DEFAULT_RESULTS_PATH, splitCommandLine, type RunTestsOptions } from '../../../shared/src/docker/run';
import { InputError, readBool, readKeyValueLines, readRequired, readString, readVerbatim, type InputSource } from '../../../shared/src/pipeline';

type Variables = { get(name: string): string | undefined };

/** setTimeout's limit is 2^31-1 ms (24.8 days); two weeks stays well inside it and outlasts any agent's job timeout. */
const MAX_TIMEOUT_MINUTES = 14 * 24 * 60;

/**
 * `timeoutMinutes`: a positive number of minutes. Decimals are accepted (`0.5` is 30 seconds), for short smoke runs
 * and for the task's own tests, which must not wait a minute to see a runner killed.
 */
export function readTimeoutMs(inputs: InputSource, name = 'timeoutMinutes'): number {
  const value = readString(inputs, name, '60')!;
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(value)) throw new InputError(name, `must be a number of minutes (e.g. 60 or 0.5), got '${value}'`);
  const minutes = Number(value);
  if (minutes <= 0) throw new InputError(name, `must be more than 0, got '${value}'`);
  if (minutes > MAX_TIMEOUT_MINUTES) throw new InputError(name, `must be at most ${MAX_TIMEOUT_MINUTES} (two weeks), got '${value}'`);
  return Math.max(1, Math.round(minutes * 60_000));
}

export interface RunContainerTestsInputs {
  run: RunTestsOptions;
  failOnTestFailure: boolean;
}

/** Every input of RunContainerTests@1, checked before the engine is asked anything. */
export function readRunContainerTestsInputs(inputs: InputSource, variables: Variables): RunContainerTestsInputs {
  const base = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  const resultsPath = readString(inputs, 'resultsPath', DEFAULT_RESULTS_PATH)!;
  if (!resultsPath.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(resultsPath)) {
    throw new InputError('resultsPath', `must be an absolute path inside the container (e.g. ${DEFAULT_RESULTS_PATH}), got '${resultsPath}'`);
  }
  const directory = readString(inputs, 'resultsDirectory', variables.get('Common.TestResultsDirectory'));
  if (!directory) throw new InputError('resultsDirectory', 'is required: the folder on the agent to copy the results to');
  if (/\$\([^)]*\)/.test(directory)) {
    throw new InputError('resultsDirectory', `holds '${directory}', a variable this job does not define: set the input to a path`);
  }
  const commandLine = readVerbatim(inputs, 'command');
  let command: string[] | undefined;
  if (commandLine) {
    try {
      command = splitCommandLine(commandLine);
    } catch (error) {
      throw new InputError('command', `cannot be split into words: ${(error as Error).message}`);
    }
  }
  return {
    run: {
      image: readRequired(inputs, 'image'),
      resultsPath,
      resultsDirectory: path.resolve(base, directory),
      command,
      environment: readKeyValueLines(inputs, 'environment'),
      network: readString(inputs, 'network'),
      user: readString(inputs, 'user'),
      timeoutMs: readTimeoutMs(inputs),
    },
    failOnTestFailure: readBool(inputs, 'failOnTestFailure', true),
  };
}
