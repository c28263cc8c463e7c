// PackageHelmChart@1 from its bundle, on YAML and key paths that must not get through: JavaScript's own keys as
// imageValuesKey, and a YAML alias bomb in a chart file. Each ends Failed in one line naming the input or the file.
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../support/env';
import { assertFailedCleanly, bundleOnce, escapeRegExp, runBundledTask, type TaskRun } from '../support/harness';

const TASK = 'PackageHelmChart';
const SAMPLE = path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service');
const IMAGE_DIGEST = `sha256:${crypto.createHash('sha256').update('outer-loop yaml task test').digest('hex')}`;

/** Nine levels of nine aliases: 9^9 strings if expanded. */
function aliasBomb(): string {
  let text = 'a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n';
  for (let i = 1; i < 10; i++)
    text += `a${i}: &a${i} [${Array(9)
      .fill(`*a${i - 1}`)
      .join(', ')}]\n`;
  return text;
}

describe('PackageHelmChart task: keys and YAML that must not get through', function () {
  let work: string;
  const runs: TaskRun[] = [];

  before(async () => {
    await bundleOnce();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-task-helm-yaml-'));
  });
  after(() => {
    for (const run of runs) fs.rmSync(run.tempDirectory, { recursive: true, force: true });
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  async function run(inputs: Record<string, string>, reader: 'fast' | 'late' = 'fast'): Promise<TaskRun> {
    const result = await runBundledTask(TASK, { inputs, reader });
    runs.push(result);
    return result;
  }

  function assertNothingWritten(taskRun: TaskRun): void {
    const staging = path.join(taskRun.tempDirectory, 'a');
    assert.deepEqual(fs.existsSync(staging) ? fs.readdirSync(staging) : [], [], 'no package is left behind');
    assert.deepEqual(Object.keys(taskRun.outputs), [], 'no output variable is set');
  }

  it('refuses __proto__, constructor and prototype in imageValuesKey, naming the input (it used to succeed, pinning nothing)', async () => {
    const keys = ['__proto__', 'image.constructor', 'prototype'];
    assert.equal(keys.length, 3);
    for (const imageValuesKey of keys) {
      const taskRun = await run({ chartPath: SAMPLE, imageDigest: IMAGE_DIGEST, imageValuesKey });
      const reserved = imageValuesKey.split('.').pop()!;
      assertFailedCleanly(
        taskRun,
        new RegExp(`^input 'imageValuesKey' is '${escapeRegExp(imageValuesKey)}', which uses the reserved key '${reserved}'`),
      );
      assertNothingWritten(taskRun);
    }
  });

  it('fails fast on a YAML alias bomb in values.yaml, in one line naming the file', async () => {
    const chart = path.join(work, 'bomb');
    fs.cpSync(SAMPLE, chart, { recursive: true });
    fs.appendFileSync(path.join(chart, 'values.yaml'), `\n${aliasBomb()}`);
    const taskRun = await run({ chartPath: chart, imageDigest: IMAGE_DIGEST }, 'late');
    assertFailedCleanly(
      taskRun,
      /^input 'chartPath' holds a chart that cannot be packaged: .*bomb\/values\.yaml expands YAML aliases more than \d+ times/,
    );
    assertNothingWritten(taskRun);
  });
});
