import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  fileWriteProblem,
  folderWriteProblem,
  InputError,
  readArtifactName,
  readBool,
  readMultiLine,
  readRegistryLogin,
  readString,
  SIGN_IN_INPUTS,
  TARGET_SIGN_IN_INPUTS,
  type InputSource,
  readPath,
} from '../../../shared/src/pipeline';
import type { PromoteImageOptions, PromoteReleaseOptions } from '../../../shared/src/registry';
import { readLockFile } from '../../../shared/src/release';

type Variables = { get(name: string): string | undefined };

/** The artifact the promoted lock file is published as when `promotedArtifactName` is empty. */
const DEFAULT_PROMOTED_ARTIFACT_NAME = 'promoted-lock';
/** The promoted lock file's name, in `$(Build.ArtifactStagingDirectory)`. */
const PROMOTED_LOCK_FILE_NAME = 'promoted-lock.json';

/** One image (`sourceImage`), or every entry of a lock file (`lockFile`). */
export type PromoteImageInputs =
  | { mode: 'image'; options: Omit<PromoteImageOptions, 'transport'> }
  | {
      mode: 'release';
      options: Omit<PromoteReleaseOptions, 'transport'> & { promotedLockFile: string };
      /** The build artifact the promoted lock file is published as. */
      artifactName: string;
    };

/**
 * `lockFile`, or undefined when it is empty. The agent hands an empty optional file path input over as the job's
 * working directory (azure-pipelines-agent#1872), so that folder counts as empty too.
 */
function readLockFilePath(inputs: InputSource, variables: Variables, base: string): string | undefined {
  const resolved = readPath(inputs, 'lockFile', undefined, base);
  if (!resolved) return undefined;
  const workingFolders = ['System.DefaultWorkingDirectory', 'Build.SourcesDirectory'].map((name) => variables.get(name));
  if (workingFolders.some((folder) => folder && path.resolve(folder) === resolved)) return undefined;
  return resolved;
}

/**
 * Every input of PromoteImage@1, as the core's options (the transport is the adapter's to add). Exactly one of
 * `sourceImage` and `lockFile` names what to promote; with a lock file, the file is read and checked here, and the
 * promoted lock file's place proven writable, before anything is promoted.
 */
export function readPromoteImageInputs(inputs: InputSource, variables: Variables): PromoteImageInputs {
  const base = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  const sourceImage = readString(inputs, 'sourceImage');
  const lockFile = readLockFilePath(inputs, variables, base);
  const common = {
    targetNamespace: readString(inputs, 'targetNamespace', 'prod'),
    additionalTags: readMultiLine(inputs, 'additionalTags'),
    allowOverwrite: readBool(inputs, 'allowOverwrite'),
    copyReferrers: readBool(inputs, 'copyReferrers', true),
    // Each side signs in one way: a Docker Registry connection, or an AzureRM connection with its registry.
    containerRegistry: readRegistryLogin(inputs, SIGN_IN_INPUTS),
    targetContainerRegistry: readRegistryLogin(inputs, TARGET_SIGN_IN_INPUTS),
  };
  const targetImage = readString(inputs, 'targetImage');
  if (!lockFile) {
    if (!sourceImage) throw new InputError('sourceImage', 'is required: the image to promote (or set lockFile to promote a lock file)');
    return { mode: 'image', options: { ...common, sourceImage, targetImage } };
  }
  if (sourceImage) {
    throw new InputError('sourceImage', `and input 'lockFile' are both set: promote one image (sourceImage) or a lock file, not both`);
  }
  if (targetImage) {
    throw new InputError(
      'targetImage',
      `and input 'lockFile' are both set: a lock file's entries keep their names (under targetNamespace), so remove targetImage`,
    );
  }
  if (!fs.existsSync(lockFile)) throw new InputError('lockFile', `names '${lockFile}', which does not exist`);
  if (fs.statSync(lockFile).isDirectory()) throw new InputError('lockFile', `names '${lockFile}', which is a folder, not a lock file`);
  let lock;
  try {
    lock = readLockFile(lockFile);
  } catch (error) {
    throw new InputError('lockFile', `names a file that is not a lock file: ${(error as Error).message}`);
  }
  const artifactName = readArtifactName(inputs, 'promotedArtifactName', DEFAULT_PROMOTED_ARTIFACT_NAME);
  const folder = variables.get('Build.ArtifactStagingDirectory') || variables.get('Agent.TempDirectory') || base;
  const promotedLockFile = path.resolve(base, folder, PROMOTED_LOCK_FILE_NAME);
  if (promotedLockFile === lockFile) {
    throw new InputError('lockFile', `names '${lockFile}', where the promoted lock file is written: give the lock file another name`);
  }
  const problem = folderWriteProblem(path.dirname(promotedLockFile)) ?? fileWriteProblem(promotedLockFile);
  if (problem) throw new Error(`the promoted lock file '${promotedLockFile}' cannot be written: ${problem}`);
  return { mode: 'release', options: { ...common, lock, promotedLockFile }, artifactName };
}
