// Every task.json declares Node24 beside Node20_1, with one bundle: an agent that has Node 24 (4.265.1 and later)
// picks Node24, an older one Node20_1. Each bundle is run here under both, and the Node it reports is checked.
// The same runs show what a start costs: a run that stops at its inputs loads none of the built-ins the bundle makes
// lazy (build/bundle.mjs LAZY_BUILTINS; crypto alone is some forty internal modules).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundleOnce, describeRun, readTaskJson, runBundledTask } from '../support/harness';
import { HANDLERS, NODE24_VERSION } from '../support/handlers';

const TASKS = [
  'BuildTestRunner',
  'RunContainerTests',
  'PublishContainerTestResults',
  'PushImageByDigest',
  'PackageHelmChart',
  'PromoteImage',
];

/** Built-ins a start must not load; each is loaded on first use by the bundle's stand-in. */
const LAZY_BUILTINS = ['crypto', 'zlib', 'tls', 'https', 'http', 'http2'];

describe('Node handlers: every bundled task runs under Node24 and Node20_1 and reports the Node it ran on', () => {
  let folder: string;
  before(async () => {
    await bundleOnce();
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-handlers-'));
    // Preloaded into the task's process: at exit, writes the built-in modules the process loaded after the preload.
    fs.writeFileSync(
      path.join(folder, 'builtins.js'),
      `const before = new Set(process.moduleLoadList);
process.on('exit', () => {
  const loaded = process.moduleLoadList.filter((m) => !before.has(m) && m.startsWith('NativeModule ')).map((m) => m.slice(13));
  require('fs').writeFileSync(process.env.OUTERLOOP_BUILTINS_FILE, loaded.join('\\n'));
});
`,
    );
  });
  after(() => fs.rmSync(folder, { recursive: true, force: true }));

  for (const task of TASKS) {
    for (const handler of HANDLERS) {
      it(`${task} under ${handler}`, async () => {
        assert.ok(readTaskJson(task).execution[handler], `${task} declares ${handler}`);
        // A run that stops at its first required input: it still loads the whole bundle and reports its result.
        const builtinsFile = path.join(folder, `${task}-${handler}.txt`);
        const run = await runBundledTask(task, {
          handler,
          inputs: requiredInputMissing(task),
          reader: task === TASKS[0] && handler === 'Node24' ? 'late' : 'fast',
          env: { NODE_OPTIONS: `--require ${path.join(folder, 'builtins.js')}`, OUTERLOOP_BUILTINS_FILE: builtinsFile },
        });
        assert.equal(run.result, 'Failed', describeRun(run));
        assert.equal(run.nodeVersion, handler === 'Node24' ? `v${NODE24_VERSION}` : process.version, describeRun(run));
        const loaded = fs.readFileSync(builtinsFile, 'utf8').split('\n');
        assert.ok(loaded.includes('net'), `the preload saw the start (stdout is a pipe): ${loaded.join(' ')}`);
        assert.deepEqual(
          loaded.filter((name) => LAZY_BUILTINS.includes(name)),
          [],
          `${task} under ${handler} loaded at its start: ${loaded.filter((name) => !name.startsWith('internal/')).join(' ')}`,
        );
      });
    }
  }
});

/**
 * Inputs that leave the task's first required input empty. A task without one (PromoteImage needs one of
 * `sourceImage` and `lockFile`, so task.json requires neither) is given no input at all, and stops at its inputs too.
 */
function requiredInputMissing(task: string): Record<string, string> {
  const required = (readTaskJson(task).inputs as { name: string; required?: boolean }[]).filter((input) => input.required);
  return required.length > 0 ? { [required[0].name]: '' } : {};
}
