// Every task.json declares Node24 beside Node20_1, with one bundle: an agent that has Node 24 (4.265.1 and later)
// picks Node24, an older one Node20_1. Each bundle is run here under both, and the Node it reports is checked.
import { strict as assert } from 'node:assert';
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

describe('Node handlers: every bundled task runs under Node24 and Node20_1 and reports the Node it ran on', () => {
  before(() => bundleOnce());

  for (const task of TASKS) {
    for (const handler of HANDLERS) {
      it(`${task} under ${handler}`, async () => {
        assert.ok(readTaskJson(task).execution[handler], `${task} declares ${handler}`);
        // A run that stops at its first required input: it still loads the whole bundle and reports its result.
        const run = await runBundledTask(task, {
          handler,
          inputs: requiredInputMissing(task),
          reader: task === TASKS[0] && handler === 'Node24' ? 'late' : 'fast',
        });
        assert.equal(run.result, 'Failed', describeRun(run));
        assert.equal(run.nodeVersion, handler === 'Node24' ? `v${NODE24_VERSION}` : process.version, describeRun(run));
      });
    }
  }
});

/** Inputs that leave the task's first required input empty. */
function requiredInputMissing(task: string): Record<string, string> {
  const required = (readTaskJson(task).inputs as { name: string; required?: boolean }[]).filter((input) => input.required);
  assert.ok(required.length > 0, `${task} has a required input`);
  return { [required[0].name]: '' };
}
