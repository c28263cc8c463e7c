/**
 * Where the core writes what it has to say. The pipeline adapter's implementation defangs every line
 * (`##vso[` / `##[`) before it reaches the agent, so the core may pass text from outside (registry messages,
 * container output) as it is.
 */
export interface Log {
  info(line: string): void;
  warn(line: string): void;
  debug(line: string): void;
  /** A value that must never be printed (a password, a token the registry issued): masked in all output from here on. */
  secret(value: string): void;
}

/** A log that discards everything; for tests and callers that do not care. */
export const silentLog: Log = { info() {}, warn() {}, debug() {}, secret() {} };

/** A log that keeps its lines, for tests. */
export function memoryLog(): Log & { lines: string[]; secrets: string[] } {
  const lines: string[] = [];
  const secrets: string[] = [];
  return {
    lines,
    secrets,
    info: (l) => void lines.push(l),
    warn: (l) => void lines.push(`warning: ${l}`),
    debug: (l) => void lines.push(`debug: ${l}`),
    secret: (v) => void secrets.push(v),
  };
}
