import * as os from 'node:os';
// shared/src/pipeline/agent.ts writes the agent's commands itself until task-lib is needed: every line it writes must
// be the line task-lib 5 writes for the same call, byte for byte, or the agent would read a task differently
// depending on whether task-lib happened to be loaded. Both run in a child process on the same environment.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from '../support/env';

const CALLS = `
  say.debug('a debug line with ##vso[ and %AZP25 and ; ] and \\r\\n inside');
  say.getInput('sourceImage');
  say.getInput('Empty Input');
  say.getInput('missing');
  say.getVariable('Build.BuildId');
  say.getVariable('System.Debug');
  say.warning('a warning; with ] and \\n');
  say.command('artifact.upload', { containerfolder: 'lock', artifactname: 'lock' }, '/tmp/x y/image-lock.json');
  say.setOutput('digest', 'sha256:abc');
  say.setResult(2, 'input \\'sourceImage\\' is required');
`;

const TASK_LIB = `
  const tl = require('azure-pipelines-task-lib/task');
  const say = {
    debug: (m) => tl.debug(m),
    getInput: (n) => tl.getInput(n, false),
    getVariable: (n) => tl.getVariable(n),
    warning: (m) => tl.warning(m),
    command: (c, p, m) => tl.command(c, p, m),
    setOutput: (n, v) => tl.setVariable(n, v, false, true),
    setResult: (r, m) => tl.setResult(r, m, true),
  };`;

const AGENT = `
  const { agent: say } = require(${JSON.stringify(path.join(repoRoot, 'shared', 'src', 'pipeline', 'agent.ts'))});`;

function run(setup: string, env: NodeJS.ProcessEnv): string {
  const script = `${setup}\nprocess.stdout.write('--- calls\\n');\n${CALLS}`;
  const child = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', script], { cwd: repoRoot, env, encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return child.stdout.slice(child.stdout.indexOf('--- calls\n'));
}

describe('pipeline agent protocol before task-lib loads (agent.ts)', () => {
  const base = {
    PATH: process.env.PATH,
    AGENT_TEMPDIRECTORY: os.tmpdir(),
    INPUT_SOURCEIMAGE: 'host/app:v1',
    INPUT_EMPTY_INPUT: '',
    BUILD_BUILDID: '4711',
  };
  for (const [name, extra] of Object.entries({
    'debug on (the default)': {},
    'debug off when the agent skips debug lines outside System.Debug': { DISTRIBUTEDTASK_TASKS_NODE_SKIPDEBUGLOGSWHENDEBUGMODEOFF: 'true' },
    'debug on again with System.Debug': { DISTRIBUTEDTASK_TASKS_NODE_SKIPDEBUGLOGSWHENDEBUGMODEOFF: 'true', SYSTEM_DEBUG: 'true' },
    'with a command correlation id': { COMMAND_CORRELATION_ID: 'c0ffee' },
  })) {
    it(`writes what task-lib writes, byte for byte: ${name}`, () => {
      const env = { ...base, ...extra };
      const expected = run(TASK_LIB, env);
      assert.match(expected, /task\.complete/);
      assert.equal(run(AGENT, env), expected);
    });
  }
});
