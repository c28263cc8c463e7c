import { connectEngine, PushError, pushByDigest, pushSummary } from '../../../shared/src/docker';
import { runTask } from '../../../shared/src/pipeline';
import { RegistryClient } from '../../../shared/src/registry';
import { readPushImageByDigestInputs } from './inputs';

/** The engine's refusals carry no input name; a pipeline author needs to know which one to fix. */
function namingConnection(error: unknown, label: string | undefined, repository: string): unknown {
  if (!(error instanceof PushError) || !error.refused) return error;
  const hint = label
    ? `check the service connection in ${label}: it needs pull and push on ${repository}`
    : "set input 'containerRegistry' to a service connection for the registry";
  return new PushError(`${error.message} (${hint})`, false, true);
}

runTask(async (task) => {
  const { inputs, variables, outputs, log, signal } = task;
  const { registry, repository, tags, sourceImage, connection, lockFile, artifactName } = readPushImageByDigestInputs(
    inputs,
    variables,
    log,
  );
  // The digest is the registry's answer for each tag, checked against what the engine says it pushed.
  const client = new RegistryClient({
    registry,
    credentials: connection?.credentials,
    credentialsLabel: connection?.label ?? "input 'containerRegistry'",
    log,
    signal,
    network: task.network,
  });
  const record = { buildId: variables.get('Build.BuildId'), sourceVersion: variables.get('Build.SourceVersion') };
  const pushed = await pushByDigest(
    connectEngine(),
    client,
    { sourceImage, repository, tags, login: connection, lockFile, record, signal },
    log,
  ).catch((error: unknown) => {
    throw namingConnection(error, connection?.label, repository);
  });
  const published = artifactName !== undefined && task.publishArtifact(artifactName, lockFile);
  outputs.set('digest', pushed.digest);
  outputs.set('pinnedImage', pushed.pinnedImage);
  outputs.set('imageTags', pushed.imageTags.join(','));
  task.summary('Pushed image', pushSummary(pushed, { repository, lockFile, artifactName: published ? artifactName : undefined }));
});
