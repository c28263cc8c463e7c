// Root hooks shared by every test file: before the run, leftovers of a run that was killed are cleared (machines are
// reused); after the whole run, the shared registries stop and the agent temp folders go.
import { removeAgentTempDirectories } from './harness';
import { stopSharedRegistries } from './registries';
import { removeStaleHostsLines } from './squid';

export const mochaHooks = {
  beforeAll(): void {
    removeStaleHostsLines();
  },
  async afterAll(): Promise<void> {
    await stopSharedRegistries();
    removeAgentTempDirectories();
  },
};
