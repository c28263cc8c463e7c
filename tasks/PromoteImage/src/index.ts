import { runTask } from '../../../shared/src/pipeline';
import { imagePromotionSummary, promoteImage, promoteRelease, releasePromotionSummary } from '../../../shared/src/registry';
import { readPromoteImageInputs } from './inputs';

runTask(async (task) => {
  const { inputs, variables, outputs, log, signal } = task;
  const read = readPromoteImageInputs(inputs, variables);
  const transport = { signal, network: task.network };
  if (read.mode === 'image') {
    const result = await promoteImage({ ...read.options, transport }, log);
    outputs.set('digest', result.digest);
    outputs.set('promotedImage', result.promotedImage);
    const { title, markdown } = imagePromotionSummary(result);
    task.summary(title, markdown);
    return;
  }
  const { promotedLockFile } = read.options;
  const result = await promoteRelease({ ...read.options, transport }, log);
  for (const entry of result.entries) outputs.set(entry.outputName, entry.promoted.pinnedReference);
  outputs.set('promotedLockFile', promotedLockFile);
  const published = task.publishArtifact(read.artifactName, promotedLockFile);
  const { title, markdown } = releasePromotionSummary(result, {
    file: promotedLockFile,
    artifactName: published ? read.artifactName : undefined,
  });
  task.summary(title, markdown);
});
