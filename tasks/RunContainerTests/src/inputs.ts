import * as path from 'node:path';
import { DEFAULT_RESULTS_PATH, splitCommandLine, type RunTestsOptions } from '../../../shared/src/docker';
import {
  InputError,
  readBool,
  readKeyValueLines,
  readRequired,
  readString,
  readVerbatim,
  type InputSource,
  readPath,
} from '../../../shared/src/pipeline';
import { InvalidReferenceError, parseReference, printable } from '../../../shared/src/reference';

type Variables = { get(name: string): string | undefined };

/** setTimeout's limit is 2^31-1 ms (24.8 days); two weeks stays well inside it and outlasts any agent's job timeout. */
const MAX_TIMEOUT_MINUTES = 14 * 24 * 60;

/** `user`, `uid`, `user:group` or `uid:gid`, as the engine's `User` takes it (https://docs.docker.com/reference/dockerfile/#user). */
const USER = /^[^:\s]+(?::[^:\s]+)?$/;

/**
 * `timeoutMinutes`: a positive number of minutes. Decimals are accepted (`0.5` is 30 seconds), for short smoke runs
 * and for the task's own tests, which must not wait a minute to see a runner killed.
 */
export function readTimeoutMs(inputs: InputSource, name = 'timeoutMinutes'): number {
  const value = readString(inputs, name, '60')!;
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(value))
    throw new InputError(name, `must be a number of minutes (e.g. 60 or 0.5), got '${printable(value)}'`);
  const minutes = Number(value);
  if (minutes <= 0) throw new InputError(name, `must be more than 0, got '${value}'`);
  if (minutes > MAX_TIMEOUT_MINUTES)
    throw new InputError(name, `must be at most ${MAX_TIMEOUT_MINUTES} (two weeks), got '${printable(value)}'`);
  return Math.max(1, Math.round(minutes * 60_000));
}

export interface RunContainerTestsInputs {
  run: RunTestsOptions;
  failOnTestFailure: boolean;
}

/** The image to run, checked by the reference grammar (an image id, `sha256:…` or short, is a valid reference too). */
function readImage(inputs: InputSource): string {
  const image = readRequired(inputs, 'image');
  try {
    parseReference(image);
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    throw new InputError('image', `is '${printable(image)}', which is not an image reference: ${error.reason}`);
  }
  return image;
}

/** A folder inside the container: absolute, and not the container's root (that would copy its whole file system). */
function readResultsPath(inputs: InputSource): string {
  const resultsPath = readString(inputs, 'resultsPath', DEFAULT_RESULTS_PATH)!;
  if (/[\0-\x1f\x7f]/.test(resultsPath))
    throw new InputError('resultsPath', `is '${printable(resultsPath)}', which holds a control character`);
  if (!resultsPath.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(resultsPath)) {
    throw new InputError(
      'resultsPath',
      `must be an absolute path inside the container (e.g. ${DEFAULT_RESULTS_PATH}), got '${printable(resultsPath)}'`,
    );
  }
  const normalized = path.posix.normalize(resultsPath.replace(/\\/g, '/'));
  if (normalized === '/' || /^[A-Za-z]:\/?$/.test(normalized)) {
    throw new InputError('resultsPath', `is '${resultsPath}', the container's root: name the folder the runner writes its results to`);
  }
  return resultsPath;
}

/** Every input of RunContainerTests@1, checked before the engine is asked anything. */
export function readRunContainerTestsInputs(inputs: InputSource, variables: Variables): RunContainerTestsInputs {
  const base = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  const image = readImage(inputs);
  const resultsPath = readResultsPath(inputs);
  const directory = readPath(inputs, 'resultsDirectory', variables.get('Common.TestResultsDirectory'), base);
  if (!directory) throw new InputError('resultsDirectory', 'is required: the folder on the agent to copy the results to');
  const commandLine = readVerbatim(inputs, 'command');
  let command: string[] | undefined;
  if (commandLine) {
    try {
      command = splitCommandLine(commandLine);
    } catch (error) {
      throw new InputError('command', `cannot be split into words: ${printable((error as Error).message)}`);
    }
  }
  const user = readString(inputs, 'user');
  if (user !== undefined && !USER.test(user)) {
    throw new InputError('user', `must be a user or user:group (each a name or a number), got '${printable(user)}'`);
  }
  const network = readString(inputs, 'network');
  if (network !== undefined && /[\s\0-\x1f\x7f]/.test(network))
    throw new InputError('network', `is '${printable(network)}', which is not a network name (it holds white space)`);
  return {
    run: {
      image,
      resultsPath,
      resultsDirectory: directory,
      command,
      environment: readKeyValueLines(inputs, 'environment'),
      network,
      user,
      timeoutMs: readTimeoutMs(inputs),
    },
    failOnTestFailure: readBool(inputs, 'failOnTestFailure', true),
  };
}
