// The modules build/bundle.mjs puts in place of others: each does what the code that loads it calls, and no more.
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { repoRoot } from '../support/env';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- the build's own CommonJS files, as the bundles load them
const load = (file: string) => require(path.join(repoRoot, 'build', file)) as Record<string, unknown>;

describe('build: modules replaced in the bundles', () => {
  it("task-lib's semver.lt compares the plain versions task-lib gives it, and refuses anything else", () => {
    const { lt } = load('task-lib-semver-lt.cjs') as { lt: (a: string, b: string) => boolean };
    assert.equal(lt(process.versions.node, '4.2.0'), false, 'the check task-lib makes as it loads');
    assert.equal(lt('2.104.0', '2.104.1'), true);
    assert.equal(lt('4.265.1', '3.232.1'), false);
    assert.equal(lt('3.232.1', '3.232.1'), false);
    assert.equal(lt('v20.9.0', '20.10.0'), true);
    assert.throws(() => lt('>=4.2', '4.2.0'), /plain major\.minor\.patch versions, not '>=4\.2'/);
  });

  it("docker-modem's ssh2 is ssh2's own Client", () => {
    const { Client } = load('ssh2-client-only.cjs') as { Client: unknown };
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the package docker-modem would load
    assert.equal(Client, (require('ssh2') as { Client: unknown }).Client);
  });
});
