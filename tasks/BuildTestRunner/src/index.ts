import { buildImage } from '../../../shared/src/docker/build';
import { connectEngine } from '../../../shared/src/docker/engine';
import { runTask } from '../../../shared/src/pipeline';
import { namingInput, readBuildTestRunnerInputs } from './inputs';

runTask(async ({ inputs, variables, outputs, log, signal }) => {
  const options = readBuildTestRunnerInputs(inputs, variables, log);
  const built = await buildImage(connectEngine(), { ...options, signal }, log).catch((error: unknown) => {
    throw namingInput(error, options);
  });
  outputs.set('imageId', built.imageId);
  outputs.set('imageName', built.imageName);
});
