import { connectEngine, describeEngine, PushError, pushImage, recordInLockFile, type ConfirmDigest } from '../../../shared/src/docker';
import { runTask } from '../../../shared/src/pipeline';
import { passwordLogin, RegistryClient, RegistryError, resolveDigest } from '../../../shared/src/registry';
import { readPushImageByDigestInputs } from './inputs';

/** The engine's refusals carry no input name; a pipeline author needs to know which one to fix. */
function namingConnection(error: unknown, label: string | undefined, repository: string): unknown {
  if (!(error instanceof PushError) || !/unauthori[sz]ed|authentication required|auth credentials|denied|forbidden/i.test(error.message))
    return error;
  const hint = label
    ? `check the service connection in ${label}: it needs pull and push on ${repository}`
    : "set input 'containerRegistry' to a service connection for the registry";
  return new PushError(`${error.message} (${hint})`);
}

runTask(async (task) => {
  const { inputs, variables, outputs, log, command, signal } = task;
  const options = readPushImageByDigestInputs(inputs, variables, log);
  const registry = new RegistryClient({
    registry: options.registry,
    credentials: options.connection?.credentials,
    credentialsLabel: options.connection?.label ?? "input 'containerRegistry'",
    log,
    signal,
    network: task.network,
  });
  // The digest is the registry's answer for each tag, checked against what the engine says it pushed.
  const confirm: ConfirmDigest = (repository, tag) => resolveDigest(registry, `${repository}:${tag}`);
  const { repository, tags, sourceImage, connection } = options;
  // Nothing is tagged or pushed before the engine answers and the registry takes the credentials for a read (a tag
  // not there yet is fine).
  const docker = connectEngine();
  await describeEngine(docker);
  await confirm(repository, tags[0]).catch((error: unknown) => {
    if (!(error instanceof RegistryError && error.status === 404)) throw error;
  });
  // The engine takes a user name and password: an Azure identity's, the ACR refresh token the read above got.
  const login = connection && (await passwordLogin(connection, { client: registry, log }));
  const pushed = await pushImage(docker, { sourceImage, repository, tags, login, signal }, log, confirm).catch((error: unknown) => {
    throw namingConnection(error, connection?.label, repository);
  });
  try {
    recordInLockFile(options.lockFile, {
      repository,
      tags,
      digest: pushed.digest,
      pinnedReference: pushed.pinnedImage,
      mediaType: pushed.mediaType,
      buildId: variables.get('Build.BuildId'),
      sourceVersion: variables.get('Build.SourceVersion'),
      pushedAt: new Date().toISOString(),
    });
  } catch (error) {
    // The tags have moved already (the folder was proven writable before): say exactly what was pushed.
    throw new Error(
      `pushed ${pushed.pinnedImage} as ${pushed.imageTags.join(', ')} but could not record it in lockFile '${options.lockFile}': ${(error as Error).message}`,
      { cause: error },
    );
  }
  log.info(`Recorded ${pushed.pinnedImage} in ${options.lockFile}`);
  if (options.artifactName)
    command('artifact.upload', { containerfolder: options.artifactName, artifactname: options.artifactName }, options.lockFile);
  outputs.set('digest', pushed.digest);
  outputs.set('pinnedImage', pushed.pinnedImage);
  outputs.set('imageTags', pushed.imageTags.join(','));
});
