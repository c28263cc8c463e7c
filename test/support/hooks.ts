// Root hooks shared by every test file: after the whole run, the shared registries stop and the agent temp folders go.
import { removeAgentTempDirectories } from './harness';
import { stopSharedRegistries } from './registries';

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopSharedRegistries();
    removeAgentTempDirectories();
  },
};
