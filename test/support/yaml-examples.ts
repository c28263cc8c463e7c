// The YAML examples of a Markdown page (README.md, overview.md) against the task.json of each task they use: task name
// and major version, input names, pick-list and boolean values, required inputs. A renamed input breaks the page's
// test before it breaks a user's pipeline.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'yaml';
import { repoRoot } from './env';

export interface Step {
  task?: string;
  inputs?: Record<string, unknown>;
}

export interface TaskInput {
  name: string;
  type: string;
  required?: boolean;
  defaultValue?: string;
  options?: Record<string, string>;
  properties?: Record<string, string>;
}

export interface TaskJson {
  friendlyName: string;
  minimumAgentVersion: string;
  version: { Major: number };
  inputs: TaskInput[];
  outputVariables?: { name: string }[];
}

/** Built-in tasks an example may use beside ours; they are not checked. */
const BUILT_IN_TASK = /^(PublishPipelineArtifact|DownloadPipelineArtifact|Bash|PowerShell|HelmDeploy)@/;

/** Every task.json under tasks/, by task name. */
export function readTaskJsons(): Map<string, TaskJson> {
  const tasks = new Map<string, TaskJson>();
  for (const name of fs.readdirSync(path.join(repoRoot, 'tasks'))) {
    const file = path.join(repoRoot, 'tasks', name, 'task.json');
    if (fs.existsSync(file)) tasks.set(name, JSON.parse(fs.readFileSync(file, 'utf8')) as TaskJson);
  }
  return tasks;
}

/** The text of every ```yaml block of a Markdown page. */
export function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```ya?ml\n([\s\S]*?)```/g)].map((match) => match[1]);
}

/** Every step with a `task:` anywhere in a parsed YAML document. */
export function stepsIn(node: unknown, found: Step[] = []): Step[] {
  if (Array.isArray(node)) node.forEach((item) => stepsIn(item, found));
  else if (node && typeof node === 'object') {
    if (typeof (node as Step).task === 'string') found.push(node);
    Object.values(node).forEach((value) => stepsIn(value, found));
  }
  return found;
}

/** The names of our tasks the blocks use. */
export function tasksUsed(blocks: string[]): Set<string> {
  return new Set(blocks.flatMap((block) => stepsIn(yaml.parse(block)).map((step) => step.task!.split('@')[0])));
}

/** Asserts that every step of `block` that uses one of our tasks names it, its inputs and their values as task.json does. */
export function checkExample(block: string, tasks: Map<string, TaskJson>): void {
  for (const step of stepsIn(yaml.parse(block)).filter((s) => !BUILT_IN_TASK.test(s.task!))) {
    const [name, major] = step.task!.split('@');
    const task = tasks.get(name);
    assert.ok(task, `unknown task ${step.task}`);
    assert.equal(Number(major), task.version.Major, `${step.task}: major version`);
    for (const [input, value] of Object.entries(step.inputs ?? {})) {
      const definition = task.inputs.find((candidate) => candidate.name === input);
      assert.ok(definition, `${step.task}: no input '${input}'`);
      const literal = !String(value).includes('$(');
      // An editable pick list (the registries of an AzureRM connection) takes any value, as the classic editor does.
      if (definition.type === 'pickList' && definition.properties?.EditableOptions !== 'True' && literal) {
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
}
