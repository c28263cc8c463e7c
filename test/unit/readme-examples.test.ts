// Every YAML example in the README is checked against the task.json it uses: task name and major version, input
// names, pick-list and boolean values. A renamed input breaks this test before it breaks a user's pipeline.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'yaml';
import { repoRoot } from '../support/env';

interface Step {
  task?: string;
  inputs?: Record<string, unknown>;
}

function stepsIn(node: unknown, found: Step[] = []): Step[] {
  if (Array.isArray(node)) node.forEach((item) => stepsIn(item, found));
  else if (node && typeof node === 'object') {
    if (typeof (node as Step).task === 'string') found.push(node);
    Object.values(node).forEach((value) => stepsIn(value, found));
  }
  return found;
}

const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((match) => match[1]);
const tasks = new Map<string, any>();
for (const name of fs.readdirSync(path.join(repoRoot, 'tasks'))) {
  const file = path.join(repoRoot, 'tasks', name, 'task.json');
  if (fs.existsSync(file)) tasks.set(name, JSON.parse(fs.readFileSync(file, 'utf8')));
}

describe('README YAML examples match task.json', () => {
  it('has an example for every task', () => {
    const used = new Set(blocks.flatMap((block) => stepsIn(yaml.parse(block)).map((step) => step.task!.split('@')[0])));
    for (const name of tasks.keys()) assert.ok(used.has(name), `no README example uses ${name}`);
  });

  blocks.forEach((block, index) => {
    it(`example ${index + 1} parses and names real tasks, inputs and values`, () => {
      const steps = stepsIn(yaml.parse(block)).filter(
        (step) => !/^(PublishPipelineArtifact|DownloadPipelineArtifact|Bash|PowerShell)@/.test(step.task!),
      );
      for (const step of steps) {
        const [name, major] = step.task!.split('@');
        const task = tasks.get(name);
        assert.ok(task, `unknown task ${step.task}`);
        assert.equal(Number(major), task.version.Major, `${step.task}: major version`);
        for (const [input, value] of Object.entries(step.inputs ?? {})) {
          const definition = task.inputs.find((candidate: { name: string }) => candidate.name === input);
          assert.ok(definition, `${step.task}: no input '${input}'`);
          // An editable pick list (the registries of an AzureRM connection) takes any value, as the classic editor does.
          if (definition.type === 'pickList' && definition.properties?.EditableOptions !== 'True' && !String(value).includes('$(')) {
            assert.ok(
              Object.keys(definition.options).includes(String(value)),
              `${step.task}: '${input}: ${String(value)}' is not an option`,
            );
          }
          if (definition.type === 'boolean' && !String(value).includes('$(')) {
            assert.match(String(value), /^(true|false)$/, `${step.task}: '${input}' must be true or false`);
          }
        }
        for (const required of task.inputs.filter(
          (input: { required?: boolean; defaultValue?: string }) => input.required && !input.defaultValue,
        )) {
          assert.ok(step.inputs && required.name in step.inputs, `${step.task}: required input '${required.name}' missing`);
        }
      }
    });
  });
});
