// The servers the tests start as child processes (sshd, ssh-agent, squid, the registry). Mocha runs with `exit: true`,
// which may end the process before the async `after` hooks of a crashed suite: a child still running then is killed,
// and what it leaves behind removed, so nothing outlives the test process.
import type { ChildProcess } from 'node:child_process';

/** How long a child has to stop after SIGTERM before it gets SIGKILL. */
const STOP_GRACE_MS = 5_000;

const onExit = new Map<ChildProcess, () => void>();

process.once('exit', () => {
  for (const [child, cleanup] of onExit) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    cleanup();
  }
  onExit.clear();
});

/** Kills `child` (SIGKILL) if it still runs when this process exits, then runs `cleanup`; until it is stopped or forgotten. */
export function killOnExit(child: ChildProcess, cleanup: () => void = () => {}): void {
  onExit.set(child, cleanup);
}

/** For a child that has exited and been cleaned up after: nothing is left to do for it on exit. */
export function forgetChild(child: ChildProcess): void {
  onExit.delete(child);
}

/**
 * Stops `child`: SIGTERM, then SIGKILL if it has not exited after STOP_GRACE_MS; resolves once `exited` (a promise made
 * when the child was spawned, which resolves on its 'exit') has, and forgets it.
 */
export async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited.finally(() => clearTimeout(timer));
  } else {
    await exited;
  }
  forgetChild(child);
}
