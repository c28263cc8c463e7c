import * as path from 'node:path';
import { printable } from '../reference/reference';

/** A task input that is missing or malformed; its message names the input and says what to do. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    problem: string,
  ) {
    super(`input '${input}' ${problem}`);
    this.name = 'InputError';
  }
}

/** Where inputs come from: the agent's `INPUT_*` variables in a task, a plain map in tests or a CLI. */
export interface InputSource {
  get(name: string): string | undefined;
}

export function inputsFromMap(values: Record<string, string | undefined>): InputSource {
  return { get: (name) => values[name] };
}

/**
 * The agent expands every `$(Name)` it knows before the task starts and leaves the others as they are: one still in
 * an input names a variable this job does not define, and using it as a path, tag or name would do the wrong thing.
 */
const UNEXPANDED_MACRO = /\$\(([^()\s]*)\)/;

/** Refuses a value that still holds an agent macro (`$(Undefined.Var)`), naming the input and the variable. */
export function refuseUnexpandedMacro(name: string, value: string): string {
  const macro = UNEXPANDED_MACRO.exec(value);
  if (macro) {
    throw new InputError(
      name,
      `holds '${macro[0]}', a variable this job does not define: define ${macro[1] || 'it'} or set the input to a value`,
    );
  }
  return value;
}

/** The trimmed value, or `fallback` when the input is empty. A `$(…)` the agent left unexpanded is refused. */
export function readString(src: InputSource, name: string, fallback?: string): string | undefined {
  const value = src.get(name)?.trim();
  return value ? refuseUnexpandedMacro(name, value) : fallback;
}

/** The trimmed value as typed, `$(…)` included: for an input a shell reads (`sh -c 'echo $(date)'`). */
export function readVerbatim(src: InputSource, name: string): string | undefined {
  return src.get(name)?.trim() || undefined;
}

export function readRequired(src: InputSource, name: string): string {
  const value = readString(src, name);
  if (!value) throw new InputError(name, 'is required');
  return value;
}

export function readBool(src: InputSource, name: string, fallback = false): boolean {
  const value = src.get(name)?.trim();
  if (!value) return fallback;
  if (!/^(true|false)$/i.test(value)) throw new InputError(name, `must be true or false, got '${value}'`);
  return value.toLowerCase() === 'true';
}

export function readInt(src: InputSource, name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
  const value = src.get(name)?.trim();
  if (!value) return fallback;
  if (!/^-?\d+$/.test(value)) throw new InputError(name, `must be a whole number, got '${value}'`);
  const number = Number(value);
  if (range.min !== undefined && number < range.min) throw new InputError(name, `must be at least ${range.min}, got ${number}`);
  if (range.max !== undefined && number > range.max) throw new InputError(name, `must be at most ${range.max}, got ${number}`);
  return number;
}

/** Non-empty trimmed lines of a multiLine input (commas are not separators: paths and tags may not contain them, but values may). */
export function readMultiLine(src: InputSource, name: string): string[] {
  return (src.get(name) ?? '')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .map((line) => refuseUnexpandedMacro(name, line));
}

export function readPick<T extends string>(src: InputSource, name: string, allowed: readonly T[], fallback: T): T {
  const value = src.get(name)?.trim();
  if (!value) return fallback;
  const match = allowed.find((option) => option.toLowerCase() === value.toLowerCase());
  if (!match) throw new InputError(name, `must be one of ${allowed.join(', ')}, got '${value}'`);
  return match;
}

/** `KEY=VALUE` lines; the value may contain `=`; `#` starts a comment line. */
export function readKeyValueLines(src: InputSource, name: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of readMultiLine(src, name)) {
    if (line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!key || /\s/.test(key)) {
      throw new InputError(name, `has a line that is not KEY=VALUE: '${line}'`);
    }
    result[key] = line.slice(eq + 1);
  }
  return result;
}

/**
 * A path input made absolute against `base` (the agent's working directory unless told), as the agent roots filePath
 * inputs. A control character (a line break from a YAML block) makes it a path nobody meant: refused.
 */
export function readPath(src: InputSource, name: string, fallback?: string, base = process.cwd()): string | undefined {
  const value = readString(src, name, fallback);
  if (value === undefined) return undefined;
  if (/[\0-\x1f\x7f]/.test(value)) throw new InputError(name, `is '${printable(value)}', which holds a control character`);
  return path.resolve(base, value);
}
