import * as os from 'node:os';
import { TaskCommand } from 'azure-pipelines-task-lib/taskcommand';
import type * as TaskLib from 'azure-pipelines-task-lib/task';
import { redact } from './secrets';

/*
 * The agent's side of the protocol, with task-lib loaded only when it is needed. Task-lib costs every start ~20 ms
 * (its vault, child_process and crypto, ~150 KB to parse: bench/startup), while a run whose inputs are wrong needs
 * only INPUT_* and a few ##vso commands. Until the first call that needs task-lib itself (an endpoint's
 * authorization, findMatch, the agent's proxy or certificates, a secret variable), inputs and plain variables are read
 * from the environment and commands are written exactly as task-lib 5 writes them (test/unit/pipeline-agent.test.ts
 * compares the two byte for byte). Once task-lib is loaded everything goes through it: its load moves INPUT_*,
 * ENDPOINT_AUTH_* and SECRET_* out of the environment into its vault.
 */

let loaded: typeof TaskLib | undefined;

/** task-lib, loaded on first use. */
export function taskLib(): typeof TaskLib {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- on first use, see above
  return (loaded ??= require('azure-pipelines-task-lib/task') as typeof TaskLib);
}

/** task-lib's variable key: `Agent.TempDirectory` → `AGENT_TEMPDIRECTORY`. */
function variableKey(name: string): string {
  return name.replace(/\./g, '_').replace(/ /g, '_').toUpperCase();
}

function isSecretVariable(key: string): boolean {
  if (process.env[`SECRET_${key}`] !== undefined) return true;
  try {
    return (JSON.parse(process.env.VSTS_SECRET_VARIABLES || '[]') as string[]).some((name) => variableKey(name) === key);
  } catch {
    return true; // let task-lib report it
  }
}

function write(command: string, properties: Record<string, string | undefined> | null, message: string): void {
  process.stdout.write(new TaskCommand(command, properties, message).toString() + os.EOL);
}

function plainVariable(name: string): string | undefined {
  return process.env[variableKey(name)];
}

let debugging: boolean | undefined;
function debugOn(): boolean {
  debugging ??=
    (plainVariable('DistributedTask.Tasks.Node.SkipDebugLogsWhenDebugModeOff') ?? '').toLowerCase() !== 'true' ||
    (plainVariable('system.debug') ?? '').toLowerCase() === 'true';
  return debugging;
}

function issue(type: 'warning' | 'error', message: string): void {
  write('task.issue', { type, source: 'TaskInternal', correlationId: process.env.COMMAND_CORRELATION_ID }, message);
}

export const TaskResult = { Succeeded: 0, SucceededWithIssues: 1, Failed: 2, Cancelled: 3, Skipped: 4 } as const;
const resultNames = ['Succeeded', 'SucceededWithIssues', 'Failed', 'Cancelled', 'Skipped'];

/** What the adapter asks of the agent; each goes through task-lib once it is loaded. */
export const agent = {
  // Input and variable values are debug-printed: a secret variable typed into an input is masked like any secret.
  debug(message: string): void {
    if (loaded) return loaded.debug(redact(message));
    if (debugOn()) write('task.debug', null, redact(message));
  },
  warning(message: string): void {
    if (loaded) return loaded.warning(message);
    issue('warning', message);
  },
  command(name: string, properties: Record<string, string>, message: string): void {
    if (loaded) return loaded.command(name, properties, message);
    write(name, properties, message);
  },
  getInput(name: string): string | undefined {
    if (loaded) return loaded.getInput(name, false);
    const value = process.env[`INPUT_${variableKey(name)}`] || undefined;
    agent.debug(`${name}=${value}`);
    return value;
  },
  getVariable(name: string): string | undefined {
    const key = variableKey(name);
    if (loaded || isSecretVariable(key)) return taskLib().getVariable(name);
    const value = process.env[key];
    agent.debug(`${name}=${value}`);
    return value;
  },
  setOutput(name: string, value: string): void {
    if (loaded) return loaded.setVariable(name, value, false, true);
    agent.debug(`set ${name}=${value}`);
    process.env[variableKey(name)] = value;
    write('task.setvariable', { variable: name, isOutput: 'true', issecret: 'false' }, value);
  },
  setResult(result: (typeof TaskResult)[keyof typeof TaskResult], message: string): void {
    if (loaded) return loaded.setResult(result as number, message, true);
    agent.debug(`task result: ${resultNames[result]}`);
    if (result === TaskResult.Failed && message) issue('error', message);
    else if (result === TaskResult.SucceededWithIssues && message) issue('warning', message);
    write('task.complete', { result: resultNames[result], done: 'true' }, message);
  },
};
