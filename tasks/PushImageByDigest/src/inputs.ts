import * as path from 'node:path';
import { readLockFile } from '../../../shared/src/docker/push';
import type { Log } from '../../../shared/src/log';
import {
  InputError, readBool, readMultiLine, readRegistryConnection, readRequired, readString, type InputSource, type RegistryConnection,
} from '../../../shared/src/pipeline';
import { formatRepository, InvalidReferenceError, parseRepository, sameRegistry, tagProblem } from '../../../shared/src/reference';

type Variables = { get(name: string): string | undefined };

const unexpandedMacro = /\$\([^)]*\)/;
/** Characters an artifact name cannot hold (the agent refuses them in artifact.upload). */
const artifactNameProblem = /[\\/":<>|*?]/;

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
 * Every input of PushImageByDigest@1, checked before anything is tagged or pushed: the repository and tags are valid,
 * and an existing lock file can be merged into (so a push never ends without its record).
 */
export function readPushImageByDigestInputs(inputs: InputSource, variables: Variables, log: Log): PushImageByDigestInputs {
  const base = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  const connection = readRegistryConnection(inputs, 'containerRegistry');
  const given = readRequired(inputs, 'repository');
  let repository: string;
  let registry: string;
  try {
    const parsed = parseRepository(given, connection ? { defaultRegistry: connection.host } : {});
    repository = formatRepository(parsed);
    registry = parsed.registry;
  } catch (error) {
    const reason = error instanceof InvalidReferenceError ? error.reason : (error as Error).message;
    throw new InputError('repository', `is '${given}', which is not a repository: ${reason} (write host/path, or path with containerRegistry set)`);
  }
  let login = connection;
  if (connection && !sameRegistry(connection.host, registry)) {
    log.warn(`input 'containerRegistry' is for ${connection.host}, but repository '${given}' is on ${registry}: its credentials are not used`);
    login = undefined;
  }

  const tags = [...new Set(readMultiLine(inputs, 'tags'))];
  if (tags.length === 0) throw new InputError('tags', 'is required: one tag per line (default $(Build.BuildId))');
  for (const tag of tags) {
    if (unexpandedMacro.test(tag)) throw new InputError('tags', `holds '${tag}', a variable this job does not define`);
    const problem = tagProblem(tag);
    if (problem) throw new InputError('tags', `holds '${tag}', which is not a tag: ${problem}`);
  }

  const lockValue = readString(inputs, 'lockFile', path.join(variables.get('Build.ArtifactStagingDirectory') ?? base, 'image-lock.json'))!;
  if (unexpandedMacro.test(lockValue)) throw new InputError('lockFile', `holds '${lockValue}', a variable this job does not define: set the input to a path`);
  const lockFile = path.resolve(base, lockValue);
  try {
    readLockFile(lockFile);
  } catch (error) {
    throw new InputError('lockFile', `names a file this push cannot be merged into: ${(error as Error).message}`);
  }

  let artifactName: string | undefined;
  if (readBool(inputs, 'publishLockArtifact', true)) {
    artifactName = readString(inputs, 'artifactName', 'image-lock')!;
    if (artifactNameProblem.test(artifactName)) throw new InputError('artifactName', `is '${artifactName}': an artifact name cannot contain \\ / " : < > | * ?`);
  }

  return {
    repository,
    registry,
    tags,
    sourceImage: readString(inputs, 'sourceImage', `${repository}:${tags[0]}`)!,
    connection: login,
    lockFile,
    artifactName,
  };
}
