// Every YAML example in the README is checked against the task.json it uses (test/support/yaml-examples.ts): task
// name and major version, input names, pick-list and boolean values. A renamed input breaks this test before it
// breaks a user's pipeline.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../support/env';
import { checkExample, readTaskJsons, tasksUsed, yamlBlocks } from '../support/yaml-examples';

const blocks = yamlBlocks(fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8'));
const tasks = readTaskJsons();

describe('README YAML examples match task.json', () => {
  it('has an example for every task', () => {
    const used = tasksUsed(blocks);
    for (const name of tasks.keys()) assert.ok(used.has(name), `no README example uses ${name}`);
  });

  blocks.forEach((block, index) => {
    it(`example ${index + 1} parses and names real tasks, inputs and values`, () => checkExample(block, tasks));
  });
});
