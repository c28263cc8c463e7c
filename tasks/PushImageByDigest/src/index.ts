import { connectEngine } from '../../../shared/src/docker/engine';
import { PushError, pushImage, recordInLockFile, type ConfirmDigest } from '../../../shared/src/docker/push';
import { runTask } from '../../../shared/src/pipeline';
import { RegistryClient, resolveDigest } from '../../../shared/src/registry';
import { readPushImageByDigestInputs } from './inputs';

/** The engine's refusals carry no input name; a pipeline author needs to know which one to fix. */
function namingConnection(error: unknown, hasLogin: boolean): unknown {
  if (!(error instanceof PushError) || !/unauthori[sz]ed|authentication required|auth credentials|denied|forbidden/i.test(error.message)) return error;
  const hint = hasLogin ? "check the service connection in input 'containerRegistry'" : "set input 'containerRegistry' to a service connection for the registry";
  return new PushError(`${error.message} (${hint})`);
}

runTask(async ({ inputs, variables, outputs, log, command, signal }) => {
  const options = readPushImageByDigestInputs(inputs, variables, log);
  const registry = new RegistryClient({
    registry: options.registry,
    credentials: options.connection?.credentials,
    credentialsLabel: "input 'containerRegistry'",
    log,
    signal,
  });
  // The digest is the registry's answer for each tag, checked against what the engine says it pushed.
  const confirm: ConfirmDigest = (repository, tag) => resolveDigest(registry, `${repository}:${tag}`);
  const { repository, tags, sourceImage, connection } = options;
  const pushed = await pushImage(connectEngine(), { sourceImage, repository, tags, login: connection, signal }, log, confirm).catch((error: unknown) => {
    throw namingConnection(error, connection !== undefined);
  });
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
  log.info(`Recorded ${pushed.pinnedImage} in ${options.lockFile}`);
  if (options.artifactName) command('artifact.upload', { containerfolder: options.artifactName, artifactname: options.artifactName }, options.lockFile);
  outputs.set('digest', pushed.digest);
  outputs.set('pinnedImage', pushed.pinnedImage);
  outputs.set('imageTags', pushed.imageTags.join(','));
});
