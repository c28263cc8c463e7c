// overview.md is the marketplace page (build/package.mjs puts it in the .vsix): written for people installing the
// extension. Its YAML must run as written — every task, input and value checked against task.json, as the README's
// examples are — it states what the agent needs as task.json does, and it carries no build instructions.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'yaml';
import { repoRoot } from '../support/env';

interface Step {
  task?: string;
  inputs?: Record<string, unknown>;
}

interface TaskInput {
  name: string;
  type: string;
  required?: boolean;
  defaultValue?: string;
  options?: Record<string, string>;
}

function stepsIn(node: unknown, found: Step[] = []): Step[] {
  if (Array.isArray(node)) node.forEach((item) => stepsIn(item, found));
  else if (node && typeof node === 'object') {
    if (typeof (node as Step).task === 'string') found.push(node);
    Object.values(node).forEach((value) => stepsIn(value, found));
  }
  return found;
}

const overview = fs.readFileSync(path.join(repoRoot, 'overview.md'), 'utf8');
const blocks = [...overview.matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((match) => match[1]);
const tasks = new Map<
  string,
  {
    friendlyName: string;
    minimumAgentVersion: string;
    version: { Major: number };
    inputs: TaskInput[];
    outputVariables?: { name: string }[];
  }
>();
for (const name of fs.readdirSync(path.join(repoRoot, 'tasks'))) {
  const file = path.join(repoRoot, 'tasks', name, 'task.json');
  if (fs.existsSync(file)) tasks.set(name, JSON.parse(fs.readFileSync(file, 'utf8')));
}

describe('overview.md (the marketplace page)', () => {
  it('shows every task by its name in the task picker and in YAML, with an example and its outputs', () => {
    assert.equal(tasks.size, 6, 'the six marketplace tasks');
    const used = new Set(blocks.flatMap((block) => stepsIn(yaml.parse(block)).map((step) => step.task!.split('@')[0])));
    for (const [name, task] of tasks) {
      assert.ok(used.has(name), `no example uses ${name}`);
      assert.ok(overview.includes(task.friendlyName), `${name}: its name in the task picker, '${task.friendlyName}'`);
      for (const output of task.outputVariables ?? [])
        assert.ok(overview.includes(`\`${output.name}\``), `${name}: output '${output.name}'`);
    }
  });

  blocks.forEach((block, index) => {
    it(`example ${index + 1} parses and names real tasks, inputs and values`, () => {
      for (const step of stepsIn(yaml.parse(block))) {
        const [name, major] = step.task!.split('@');
        const task = tasks.get(name);
        assert.ok(task, `unknown task ${step.task}`);
        assert.equal(Number(major), task.version.Major, `${step.task}: major version`);
        for (const [input, value] of Object.entries(step.inputs ?? {})) {
          const definition = task.inputs.find((candidate) => candidate.name === input);
          assert.ok(definition, `${step.task}: no input '${input}'`);
          const literal = !String(value).includes('$(');
          if (definition.type === 'pickList' && literal) {
            assert.ok(
              Object.keys(definition.options ?? {}).includes(String(value)),
              `${step.task}: '${input}: ${String(value)}' is not an option`,
            );
          }
          if (definition.type === 'boolean' && literal)
            assert.match(String(value), /^(true|false)$/, `${step.task}: '${input}' must be true or false`);
        }
        for (const required of task.inputs.filter((input) => input.required && !input.defaultValue)) {
          assert.ok(step.inputs && required.name in step.inputs, `${step.task}: required input '${required.name}' missing`);
        }
      }
    });
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
