import { buildImage, buildSummary, connectEngine } from '../../../shared/src/docker';
import { runTask } from '../../../shared/src/pipeline';
import { passwordLogin } from '../../../shared/src/registry';
import { namingInput, readBuildTestRunnerInputs } from './inputs';

runTask(async (task) => {
  const { inputs, variables, outputs, log, signal } = task;
  const { logins, ...options } = readBuildTestRunnerInputs(inputs, variables, log);
  // The engine takes a user name and password: an Azure identity is exchanged for an ACR refresh token first (the
  // agent's proxy settings are read only for that: otherwise the task makes no call of its own).
  const network = (entra: boolean) => (entra ? task.network : undefined);
  const engineLogins = await Promise.all(
    logins.map((login) => passwordLogin(login, { transport: { signal, network: network(login.credentials.kind === 'entra') }, log })),
  );
  const built = await buildImage(connectEngine(), { ...options, logins: engineLogins, signal }, log).catch((error: unknown) => {
    throw namingInput(error, { logins });
  });
  outputs.set('imageId', built.imageId);
  outputs.set('imageName', built.imageName);
  task.summary('Test runner image', buildSummary(built, options));
});
