// overview.md is the marketplace page (build/package.mjs puts it in the .vsix): written for people installing the
// extension. Its YAML must run as written — every task, input and value checked against task.json, as the README's
// examples are — it states what the agent needs as task.json does, and it carries no build instructions.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../support/env';
import { checkExample, readTaskJsons, tasksUsed, yamlBlocks } from '../support/yaml-examples';

const overview = fs.readFileSync(path.join(repoRoot, 'overview.md'), 'utf8');
const blocks = yamlBlocks(overview);
const tasks = readTaskJsons();

describe('overview.md (the marketplace page)', () => {
  it('shows every task by its name in the task picker and in YAML, with an example and its outputs', () => {
    assert.equal(tasks.size, 6, 'the six marketplace tasks');
    const used = tasksUsed(blocks);
    for (const [name, task] of tasks) {
      assert.ok(used.has(name), `no example uses ${name}`);
      assert.ok(overview.includes(task.friendlyName), `${name}: its name in the task picker, '${task.friendlyName}'`);
      for (const output of task.outputVariables ?? [])
        assert.ok(overview.includes(`\`${output.name}\``), `${name}: output '${output.name}'`);
    }
  });

  blocks.forEach((block, index) => {
    it(`example ${index + 1} parses and names real tasks, inputs and values`, () => checkExample(block, tasks));
  });

  it('states the agent the tasks need, as task.json declares it, and the agent that runs them on Node 24', () => {
    const versions = new Set([...tasks.values()].map((task) => task.minimumAgentVersion));
    assert.equal(versions.size, 1, 'one minimum agent version for all tasks');
    assert.ok(overview.includes(`agent ${[...versions][0]} or later`), `'agent ${[...versions][0]} or later'`);
    assert.match(overview, /Node 24[\s\S]{0,80}4\.265\.1/);
    assert.match(overview, /Docker engine/);
    assert.match(overview, /no helm/i);
  });

  it('has no build instructions: nothing about npm, cloning or packaging the extension', () => {
    assert.doesNotMatch(overview, /\bnpm\b|git clone|tfx|\.vsix|node_modules|test:all|machine-setup/);
  });
});
