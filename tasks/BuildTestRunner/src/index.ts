import { buildImage } from '../../../shared/src/docker/build';
import { connectEngine } from '../../../shared/src/docker/engine';
import { runTask } from '../../../shared/src/pipeline';
import { readBuildTestRunnerInputs } from './inputs';

runTask(async ({ inputs, variables, outputs, log, signal }) => {
  const options = readBuildTestRunnerInputs(inputs, variables, log);
  const built = await buildImage(connectEngine(), { ...options, signal }, log);
  outputs.set('imageId', built.imageId);
  outputs.set('imageName', built.imageName);
});
