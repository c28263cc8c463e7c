// tfx-cli only warns about a bad task.json, and the agent or the classic editor is where the mistake would surface:
// these checks make it fail here instead.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../support/env';

const tasksDir = path.join(repoRoot, 'tasks');
const taskNames = fs.readdirSync(tasksDir).filter((name) => fs.existsSync(path.join(tasksDir, name, 'task.json')));
const categories = ['Build', 'Utility', 'Test', 'Package', 'Deploy', 'Tool'];
const inputTypes = /^(string|multiLine|boolean|pickList|filePath|int|radio|secureFile|connectedService:[A-Za-z0-9_-]+)$/;

/** Input names a visibleRule mentions: `a = b && c != x || d NotEmpty` → a, c, d. */
export function visibleRuleInputs(rule: string): string[] {
  return rule
    .split(/&&|\|\|/)
    .map((clause) =>
      clause
        .trim()
        .match(/^([A-Za-z0-9_.]+)\s*(=|!=|<|>|<=|>=|NotEndsWith|EndsWith|NotContains|Contains|NotEmpty|Empty|NotStartsWith|StartsWith)/),
    )
    .map((match) => {
      if (!match) throw new Error(`visibleRule clause not understood: '${rule}'`);
      return match[1];
    });
}

describe('task.json lint', () => {
  it('finds the tasks', () => assert.ok(taskNames.length >= 1));

  it('gives every task a distinct GUID', () => {
    const ids = taskNames.map((name) => JSON.parse(fs.readFileSync(path.join(tasksDir, name, 'task.json'), 'utf8')).id);
    assert.equal(new Set(ids).size, ids.length);
  });

  for (const name of taskNames) {
    describe(name, () => {
      const task = JSON.parse(fs.readFileSync(path.join(tasksDir, name, 'task.json'), 'utf8'));
      const inputNames = new Set<string>((task.inputs ?? []).map((input: { name: string }) => input.name));
      const groupNames = new Set<string>((task.groups ?? []).map((group: { name: string }) => group.name));

      it('has a v4 GUID id, its folder name, major version 1', () => {
        assert.match(task.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.equal(task.name, name);
        assert.equal(task.version.Major, 1);
        assert.ok(Number.isInteger(task.version.Minor) && Number.isInteger(task.version.Patch));
      });

      it('has a friendlyName of at most 40 characters, a description, a category, an instanceNameFormat', () => {
        assert.ok(task.friendlyName && task.friendlyName.length <= 40, `friendlyName '${task.friendlyName}'`);
        assert.ok(task.description);
        assert.ok(categories.includes(task.category), `category '${task.category}'`);
        assert.ok(task.instanceNameFormat);
        for (const [, macro] of String(task.instanceNameFormat).matchAll(/\$\(([^)]+)\)/g)) {
          assert.ok(inputNames.has(macro), `instanceNameFormat names unknown input '${macro}'`);
        }
      });

      it('runs on Node24 and Node20_1 (one bundle) from its own src/index.ts, with an icon', () => {
        // Agents from 4.265.1 pick Node24; older ones fall back to Node20_1. Both run the same bundle.
        assert.deepEqual(Object.keys(task.execution).sort(), ['Node20_1', 'Node24']);
        assert.ok(task.execution.Node24.target, 'execution.Node24.target');
        assert.equal(task.execution.Node24.target, task.execution.Node20_1.target);
        assert.ok(fs.existsSync(path.join(tasksDir, name, 'src', 'index.ts')));
        const icon = fs.readFileSync(path.join(tasksDir, name, 'icon.png'));
        assert.equal(icon.subarray(1, 4).toString('latin1'), 'PNG');
      });

      it('describes every input, with a known type, and its visibleRule/group names something real', () => {
        for (const input of task.inputs ?? []) {
          assert.match(input.name, /^[A-Za-z][A-Za-z0-9]*$/, `input name '${input.name}'`);
          assert.ok(input.label, `${input.name}: label`);
          assert.ok(input.helpMarkDown, `${input.name}: helpMarkDown`);
          assert.match(input.type, inputTypes, `${input.name}: type '${input.type}'`);
          if (input.groupName) assert.ok(groupNames.has(input.groupName), `${input.name}: group '${input.groupName}'`);
          if (input.visibleRule) {
            for (const ref of visibleRuleInputs(input.visibleRule)) {
              assert.ok(inputNames.has(ref), `${input.name}: visibleRule names unknown input '${ref}'`);
            }
          }
          if (input.type === 'boolean' && input.defaultValue !== undefined) {
            assert.match(String(input.defaultValue), /^(true|false)$/, `${input.name}: boolean default`);
          }
          if (input.type === 'pickList' || input.type === 'radio') {
            const options = Object.keys(input.options ?? {});
            // A pick list the service fills (a data source binding targets it) may have no options of its own.
            const bound = (task.dataSourceBindings ?? []).some((binding: { target?: string }) => binding.target === input.name);
            assert.ok(options.length > 0 || bound, `${input.name}: options`);
            if (input.defaultValue !== undefined) assert.ok(options.includes(input.defaultValue), `${input.name}: default not an option`);
          }
        }
      });

      it('binds data sources to its own inputs (target, and the connection in endpointId)', () => {
        for (const binding of task.dataSourceBindings ?? []) {
          assert.ok(inputNames.has(binding.target), `dataSourceBinding target '${binding.target}'`);
          const endpoint = /^\$\(([A-Za-z0-9]+)\)$/.exec(binding.endpointId ?? '')?.[1];
          assert.ok(endpoint && inputNames.has(endpoint), `dataSourceBinding endpointId '${binding.endpointId}'`);
          assert.match(
            task.inputs.find((input: { name: string }) => input.name === endpoint).type,
            /^connectedService:/,
            `${binding.endpointId} is a service connection`,
          );
          assert.ok(binding.dataSourceName, 'dataSourceName');
        }
      });

      it('has groups that are used and output variables with descriptions', () => {
        for (const group of groupNames) {
          assert.ok(
            (task.inputs ?? []).some((input: { groupName?: string }) => input.groupName === group),
            `group '${group}' unused`,
          );
        }
        for (const output of task.outputVariables ?? []) assert.ok(output.name && output.description, JSON.stringify(output));
      });
    });
  }
});
