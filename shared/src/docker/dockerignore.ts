import * as path from 'node:path';
import { printable } from '../reference';

/*
 * `.dockerignore` as Docker reads and matches it (moby/patternmatcher: ignorefile.ReadAll, NewPatternMatcher,
 * MatchesOrParentMatches). Docker turns each pattern into a Go regular expression, and Go's regexp runs in linear
 * time; a JavaScript RegExp of the same text backtracks, and `**\/**\/**\/…\/x` over a deep folder never finishes.
 * So a pattern is compiled into tokens and matched by a state-set simulation: time linear in the path's length
 * times the pattern's, whatever the pattern.
 * https://docs.docker.com/build/concepts/context/#dockerignore-files
 */

/** A `.dockerignore` line Docker would refuse; the message names the file, the line and the pattern. */
export class DockerignoreError extends Error {
  constructor(
    readonly file: string,
    /** 1-based. */
    readonly line: number,
    readonly pattern: string,
    readonly reason: string,
  ) {
    super(`'${file}' line ${line}: '${printable(pattern)}' is not a valid pattern: ${reason}`);
    this.name = 'DockerignoreError';
  }
}

/** A pattern Go's filepath.Match calls malformed (Docker checks every pattern with it); the message is the reason. */
class PatternSyntaxError extends Error {}

type Token =
  /** One character: a literal, `?` (not `/`) or a `[…]` class. */
  | { kind: 'char'; test: (c: string) => boolean }
  /** `*`: any run of characters but `/`. */
  | { kind: 'star' }
  /** `**` (and `**\/`) inside a pattern: nothing, or any run of characters ending in `/`. */
  | { kind: 'dirs' }
  /** `**` at the end: anything. */
  | { kind: 'tail' };

/** Reads one class member at `i` (a character, or `\` and a character); Go refuses `-` and `]` unescaped here. */
function classChar(chars: string[], i: number): [string, number] {
  if (i >= chars.length) throw new PatternSyntaxError("a '[' has no closing ']'");
  if (chars[i] === '\\') {
    if (i + 1 >= chars.length) throw new PatternSyntaxError("a '[' has no closing ']'");
    return [chars[i + 1], i + 2];
  }
  if (chars[i] === '-' || chars[i] === ']') {
    throw new PatternSyntaxError(`a character class has '${chars[i]}' where a character belongs (escape it as \\${chars[i]})`);
  }
  return [chars[i], i + 1];
}

/** Parses `[…]` starting after the `[` at `i`; returns the token and the index after `]`. Go's filepath.Match syntax. */
function parseClass(chars: string[], start: number): [Token, number] {
  let i = start;
  const negated = chars[i] === '^';
  if (negated) i++;
  const ranges: Array<[string, string]> = [];
  while (!(chars[i] === ']' && ranges.length > 0)) {
    const [lo, afterLo] = classChar(chars, i);
    i = afterLo;
    let hi = lo;
    if (chars[i] === '-') {
      [hi, i] = classChar(chars, i + 1);
      // Go's regexp refuses the compiled pattern with "invalid character class range".
      if (hi.codePointAt(0)! < lo.codePointAt(0)!) throw new PatternSyntaxError(`the range '${lo}-${hi}' runs backwards`);
    }
    ranges.push([lo, hi]);
  }
  const test = (c: string) => ranges.some(([lo, hi]) => lo <= c && c <= hi) !== negated;
  return [{ kind: 'char', test }, i + 1];
}

/** The tokens of a cleaned pattern, after patternmatcher's conversion to a regular expression. */
function tokenize(pattern: string): Token[] {
  const chars = Array.from(pattern);
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        tokens.push({ kind: i + 1 >= chars.length ? 'tail' : 'dirs' });
      } else {
        tokens.push({ kind: 'star' });
      }
    } else if (c === '?') {
      tokens.push({ kind: 'char', test: (x) => x !== '/' });
    } else if (c === '[') {
      const [token, next] = parseClass(chars, i + 1);
      tokens.push(token);
      i = next - 1;
    } else if (c === '\\') {
      if (i + 1 >= chars.length) throw new PatternSyntaxError("it ends with a '\\' that escapes nothing");
      const literal = chars[++i];
      tokens.push({ kind: 'char', test: (x) => x === literal });
    } else {
      tokens.push({ kind: 'char', test: (x) => x === c });
    }
  }
  return tokens;
}

/**
 * Whether the pattern matches `name` or one of its parent folders (`a/b` for `a/b/c`), in one pass: a state is a
 * token index (`i`), or `n + 1 + i` for "inside the `**` of token i".
 */
function matchesOrParent(tokens: readonly Token[], name: string): boolean {
  const n = tokens.length;
  // A state and every state reachable from it without reading a character (`*` and `**` may match nothing).
  const add = (states: Set<number>, from: number) => {
    for (let i = from; !states.has(i); i++) {
      states.add(i);
      if (i >= n) return;
      const kind = tokens[i].kind;
      if (kind === 'dirs') states.add(n + 1 + i);
      if (kind === 'char') return;
    }
  };
  let states = new Set<number>();
  add(states, 0);
  const chars = Array.from(name);
  for (let k = 0; k < chars.length && states.size > 0; k++) {
    const c = chars[k];
    const next = new Set<number>();
    for (const state of states) {
      if (state > n) {
        const i = state - n - 1;
        next.add(state);
        if (c === '/') add(next, i + 1);
        continue;
      }
      if (state === n) continue;
      const token = tokens[state];
      if (token.kind === 'char' && token.test(c)) add(next, state + 1);
      else if (token.kind === 'star' && c !== '/') add(next, state);
      else if (token.kind === 'tail') add(next, state);
    }
    states = next;
    // A parent folder matched: `a/b` ends where the next character is '/'.
    if (chars[k + 1] === '/' && states.has(n)) return true;
  }
  return states.has(n);
}

interface Rule {
  exclusion: boolean;
  tokens: Token[];
}

/** Docker's pattern cleaning: filepath.Clean, `/` separators, no leading `/`. */
function cleanPattern(pattern: string): string {
  // On Windows filepath.ToSlash turns `\` into `/` (and there `\` escapes nothing); elsewhere it escapes.
  let cleaned = path.posix.normalize(process.platform === 'win32' ? pattern.replace(/\\/g, '/') : pattern);
  if (cleaned.length > 1 && cleaned.endsWith('/')) cleaned = cleaned.slice(0, -1);
  if (cleaned.length > 1 && cleaned.startsWith('/')) cleaned = cleaned.replace(/^\/+/, '') || '/';
  return cleaned;
}

/** The rules of a `.dockerignore` file, matched as Docker matches them. */
export class Dockerignore {
  private constructor(private readonly rules: readonly Rule[]) {}

  /**
   * Parses `.dockerignore` text; throws {@link DockerignoreError} for a line Docker would refuse. `file` names the
   * file in that message.
   */
  static parse(text: string, file = '.dockerignore'): Dockerignore {
    const rules: Rule[] = [];
    for (const [index, raw] of text
      .replace(/^\uFEFF/, '')
      .split(/\r?\n/)
      .entries()) {
      if (raw.startsWith('#')) continue;
      let pattern = raw.trim();
      if (!pattern) continue;
      const exclusion = pattern.startsWith('!');
      if (exclusion) pattern = pattern.slice(1).trim();
      if (!pattern) throw new DockerignoreError(file, index + 1, raw.trim(), "'!' alone brings nothing back: write !<path>");
      try {
        rules.push({ exclusion, tokens: tokenize(cleanPattern(pattern)) });
      } catch (error) {
        if (!(error instanceof PatternSyntaxError)) throw error;
        throw new DockerignoreError(file, index + 1, raw.trim(), error.message);
      }
    }
    return new Dockerignore(rules);
  }

  /** True when some rule is an exception (`!path`): a file below an excluded folder may come back. */
  get hasExceptions(): boolean {
    return this.rules.some((rule) => rule.exclusion);
  }

  /** Whether `name` (relative to the context, `/`-separated) is left out: the last rule that matches it decides. */
  excludes(name: string): boolean {
    let excluded = false;
    for (const rule of this.rules) {
      // Only a rule that could change the answer is tried, as Docker does.
      if (rule.exclusion !== excluded) continue;
      if (matchesOrParent(rule.tokens, name)) excluded = !rule.exclusion;
    }
    return excluded;
  }
}
