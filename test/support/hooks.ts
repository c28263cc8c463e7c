// Root hooks shared by every test file: the shared registries stop once, after the whole run.
import { stopSharedRegistries } from './registries';

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopSharedRegistries();
  },
};
