import {
  type Log,
  InputError,
  readLockFileInputs,
  readMultiLine,
  readRegistryLogin,
  readRequired,
  readString,
  type InputSource,
  type RegistryConnection,
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

  return { repository, registry, tags, sourceImage, connection: login, ...readLockFileInputs(inputs, variables) };
}
