// The README's section on the sample pipeline quotes examples/delivery/azure-pipelines.yml, which the end-to-end test
// runs; a quote that drifted from the file would show readers a pipeline nobody ran. (test/unit/readme-examples.test.ts
// checks the same blocks against task.json.)
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../support/env';
import { yamlBlocks } from '../support/yaml-examples';

const SECTION_TITLE = '## Chaining the outer loop: the sample pipeline';
const PIPELINE = 'examples/delivery/azure-pipelines.yml';

function section(): string {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const start = readme.indexOf(`${SECTION_TITLE}\n`);
  assert.ok(start >= 0, `README.md has a section '${SECTION_TITLE}'`);
  const end = readme.indexOf('\n## ', start + SECTION_TITLE.length);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** Where `block`'s lines appear in `lines` as one run, all indented by the same prefix; -1 when they do not. */
function indexOfIndented(lines: string[], block: string[]): number {
  for (let at = 0; at + block.length <= lines.length; at++) {
    const indent = lines[at].slice(0, lines[at].length - block[0].length);
    if (!/^ *$/.test(indent) || lines[at] !== indent + block[0]) continue;
    if (block.every((line, i) => lines[at + i] === (line === '' ? '' : indent + line))) return at;
  }
  return -1;
}

describe("the README's sample pipeline section quotes examples/delivery/azure-pipelines.yml as it is", () => {
  const text = section();
  const file = fs.readFileSync(path.join(repoRoot, PIPELINE), 'utf8').split('\n');
  const blocks = yamlBlocks(text).map((block) => block.replace(/\n$/, '').split('\n'));

  it('links the file and quotes it in YAML blocks', () => {
    assert.ok(text.includes(`(${PIPELINE})`), `the section links ${PIPELINE}`);
    assert.ok(blocks.length >= 2, 'the CI steps and the CD stage are quoted');
  });

  it('every YAML block is a run of the file’s own lines', () => {
    for (const block of blocks) assert.ok(indexOfIndented(file, block) >= 0, `not in ${PIPELINE}:\n${block.join('\n')}`);
  });

  it('every `input: value` the prose names is written so in the file', () => {
    const prose = text.replace(/```[\s\S]*?```/g, '');
    const named = [...prose.matchAll(/`([A-Za-z]+: [^`]+)`/g)].map((m) => m[1]);
    assert.ok(named.length >= 3, 'the prose names the HelmDeploy inputs');
    for (const pair of named)
      assert.ok(
        file.some((line) => line.trim().replace(/^- /, '').startsWith(pair)),
        `${PIPELINE} has no line '${pair}'`,
      );
  });
});
