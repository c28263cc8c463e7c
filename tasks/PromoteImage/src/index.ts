import { runTask } from '../../../shared/src/pipeline';
import { promoteImage } from '../../../shared/src/registry';
import { readPromoteImageInputs } from './inputs';

runTask(async ({ inputs, outputs, log, signal, network }) => {
  const result = await promoteImage({ ...readPromoteImageInputs(inputs), transport: { signal, network } }, log);
  outputs.set('digest', result.digest);
  outputs.set('promotedImage', result.promotedImage);
});
