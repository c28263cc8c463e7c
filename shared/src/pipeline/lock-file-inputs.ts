// The lock-file inputs of the tasks that record what they push (PushImageByDigest, PackageHelmChart): the same three
// inputs and defaults, so every task of a job merges into one file and publishes it under one artifact name.
import * as path from 'node:path';
import { printable } from '../reference/reference';
import { readLockFile } from '../release';
import { fileWriteProblem, folderWriteProblem } from '../writable';
import { InputError, readBool, readPath, readString, type InputSource } from './inputs';

type Variables = { get(name: string): string | undefined };

/** The lock file's name in `$(Build.ArtifactStagingDirectory)` when `lockFile` is empty. */
const DEFAULT_LOCK_FILE_NAME = 'image-lock.json';
/** The build artifact the lock file is published as when `artifactName` is empty. */
const DEFAULT_LOCK_ARTIFACT_NAME = 'image-lock';

/** Characters an artifact name cannot hold (the agent refuses them in artifact.upload), control characters too. */
const artifactNameProblem = /[\\/":<>|*?\0-\x1f\x7f]/;

export interface LockFileInputs {
  /** Absolute path of the lock file, proven writable and mergeable. */
  lockFile: string;
  /** The artifact to upload the lock file as; undefined when `publishLockArtifact` is false. */
  artifactName?: string;
}

/** `lockFile` (default `$(Build.ArtifactStagingDirectory)/image-lock.json`) made absolute against the job's working directory. */
export function lockFilePath(inputs: InputSource, variables: Variables): { resolved: string; isDefault: boolean } {
  const base = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  const fallback = path.join(variables.get('Build.ArtifactStagingDirectory') ?? base, DEFAULT_LOCK_FILE_NAME);
  const resolved = readPath(inputs, 'lockFile', fallback, base)!;
  return { resolved, isDefault: resolved === path.resolve(base, fallback) };
}

/**
 * `lockFile`, `publishLockArtifact` and `artifactName`, checked before anything is pushed. The lock file is proven
 * usable: its folder takes a new file (made and removed again), an existing file can be replaced and merged into.
 * Otherwise a push would move tags and leave no record of them.
 */
export function readLockFileInputs(inputs: InputSource, variables: Variables): LockFileInputs {
  let artifactName: string | undefined;
  if (readBool(inputs, 'publishLockArtifact', true)) artifactName = readArtifactName(inputs, 'artifactName', DEFAULT_LOCK_ARTIFACT_NAME);
  const lockFile = lockFilePath(inputs, variables).resolved;
  const problem = folderWriteProblem(path.dirname(lockFile)) ?? fileWriteProblem(lockFile);
  if (problem) throw new InputError('lockFile', `names '${lockFile}', which cannot be written: ${problem}`);
  try {
    readLockFile(lockFile);
  } catch (error) {
    throw new InputError('lockFile', `names a file this push cannot be merged into: ${(error as Error).message}`);
  }
  return { lockFile, artifactName };
}

/** An artifact name input (`fallback` when empty), refused when `artifact.upload` would refuse it. */
export function readArtifactName(inputs: InputSource, name: string, fallback: string): string {
  const value = readString(inputs, name, fallback)!;
  if (artifactNameProblem.test(value)) {
    throw new InputError(name, `is '${printable(value)}': an artifact name cannot contain \\ / " : < > | * ? or control characters`);
  }
  return value;
}
