import { runTask } from '../../../shared/src/pipeline';
import { promoteImage } from '../../../shared/src/registry';
import { readPromoteImageInputs } from './inputs';

runTask(async (task) => {
  const { inputs, outputs, log, signal } = task;
  const options = readPromoteImageInputs(inputs);
  const result = await promoteImage({ ...options, transport: { signal, network: task.network } }, log);
  outputs.set('digest', result.digest);
  outputs.set('promotedImage', result.promotedImage);
});
