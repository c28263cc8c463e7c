import * as path from 'node:path';
import { readLockFile } from '../../../shared/src/release';
import {
  type Log,
  InputError,
  readBool,
  readMultiLine,
  readRegistryLogin,
  readRequired,
  readString,
  type InputSource,
  type RegistryConnection,
  fileWriteProblem,
  folderWriteProblem,
} from '../../../shared/src/pipeline';
import {
  formatRepository,
  InvalidReferenceError,
  parseReference,
  parseRepository,
  printable,
  sameRegistry,
  tagProblem,
} from '../../../shared/src/reference';

type Variables = { get(name: string): string | undefined };

/** Characters an artifact name cannot hold (the agent refuses them in artifact.upload), control characters too. */
const artifactNameProblem = /[\\/":<>|*?\0-\x1f\x7f]/;

export interface PushImageByDigestInputs {
  /** `host/path`. */
  repository: string;
  registry: string;
  tags: string[];
  sourceImage: string;
  /** The connection, when it is for the repository's registry. */
  connection?: RegistryConnection;
  lockFile: string;
  /** Undefined when the lock file is not to be published. */
  artifactName?: string;
}

/**
 * Every input of PushImageByDigest@1, checked before anything is tagged or pushed: the repository, tags and source
 * image are valid references (parsed here, not by the engine), and the lock file can be written and merged into (so a
 * push never ends without its record).
 */
export function readPushImageByDigestInputs(inputs: InputSource, variables: Variables, log: Log): PushImageByDigestInputs {
  const base = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  // A Docker Registry connection, or an AzureRM connection with its registry; its label names the input.
  const connection = readRegistryLogin(inputs);
  const given = readRequired(inputs, 'repository');
  let repository: string;
  let registry: string;
  try {
    const parsed = parseRepository(given, connection ? { defaultRegistry: connection.host } : {});
    repository = formatRepository(parsed);
    registry = parsed.registry;
  } catch (error) {
    const reason = error instanceof InvalidReferenceError ? error.reason : (error as Error).message;
    throw new InputError(
      'repository',
      `is '${printable(given)}', which is not a repository: ${reason} (write host/path, or path with containerRegistry set)`,
    );
  }
  let login = connection;
  if (connection && !sameRegistry(connection.host, registry)) {
    log.warn(`${connection.label} is for ${connection.host}, but repository '${given}' is on ${registry}: its credentials are not used`);
    login = undefined;
  }

  const tags = [...new Set(readMultiLine(inputs, 'tags'))];
  if (tags.length === 0) throw new InputError('tags', 'is required: one tag per line (default $(Build.BuildId))');
  for (const tag of tags) {
    const problem = tagProblem(tag);
    if (problem) throw new InputError('tags', `holds '${printable(tag)}', which is not a tag: ${problem}`);
  }

  const sourceImage = readString(inputs, 'sourceImage', `${repository}:${tags[0]}`)!;
  try {
    // An image id (`sha256:…` or its short form) is a valid reference too.
    parseReference(sourceImage);
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    throw new InputError('sourceImage', `is '${printable(sourceImage)}', which is not an image reference: ${error.reason}`);
  }

  let artifactName: string | undefined;
  if (readBool(inputs, 'publishLockArtifact', true)) {
    artifactName = readString(inputs, 'artifactName', 'image-lock')!;
    if (artifactNameProblem.test(artifactName)) {
      throw new InputError(
        'artifactName',
        `is '${printable(artifactName)}': an artifact name cannot contain \\ / " : < > | * ? or control characters`,
      );
    }
  }

  return { repository, registry, tags, sourceImage, connection: login, lockFile: readLockFileInput(inputs, variables, base), artifactName };
}

/**
 * The lock file, proven usable before anything is pushed: its folder takes a new file (made and removed again), an
 * existing file can be replaced and merged into. Otherwise a push would move tags and leave no record of them.
 */
function readLockFileInput(inputs: InputSource, variables: Variables, base: string): string {
  const value = readString(inputs, 'lockFile', path.join(variables.get('Build.ArtifactStagingDirectory') ?? base, 'image-lock.json'))!;
  if (/[\0-\x1f\x7f]/.test(value)) throw new InputError('lockFile', `is '${printable(value)}', which holds a control character`);
  const lockFile = path.resolve(base, value);
  const problem = folderWriteProblem(path.dirname(lockFile)) ?? fileWriteProblem(lockFile);
  if (problem) throw new InputError('lockFile', `names '${lockFile}', which cannot be written: ${problem}`);
  try {
    readLockFile(lockFile);
  } catch (error) {
    throw new InputError('lockFile', `names a file this push cannot be merged into: ${(error as Error).message}`);
  }
  return lockFile;
}
