/**
 * `.helmignore` with helm's own semantics (helm v3 `pkg/ignore/rules.go`), not gitignore's:
 * - one pattern per line, matched with Go's `filepath.Match` (no `**`, which is an error);
 * - a pattern without `/` is matched against the base name only; one with `/` against the whole path from the chart
 *   root; a leading `/` is stripped; a trailing `/` only matches directories;
 * - rules are tried in order and the first match ignores the file;
 * - a negated rule (`!pattern`) ignores every path it does NOT match and stops at the first such path — helm's
 *   behaviour, however surprising (`!*.txt` alone ignores Chart.yaml);
 * - `templates/.?*` is always appended (dot files directly in templates/ are never templates).
 */

export const HELMIGNORE = '.helmignore';

/** Helm appends this rule after the chart's own (`ignore.AddDefaults`). */
export const DEFAULT_IGNORE_RULE = 'templates/.?*';

/** A pattern that Go's `filepath.Match` would reject, or `**`. */
export class IgnorePatternError extends Error {}

interface Rule {
  raw: string;
  negate: boolean;
  mustDir: boolean;
  match: (path: string) => boolean;
}

export class IgnoreRules {
  private readonly rules: Rule[] = [];

  /** Parses `.helmignore` text (lines split as Go's bufio.Scanner does: `\n`, with a trailing `\r` dropped). */
  static parse(text: string, withDefaults = true): IgnoreRules {
    const rules = new IgnoreRules();
    for (const line of text.split('\n')) rules.add(line.endsWith('\r') ? line.slice(0, -1) : line);
    if (withDefaults) rules.add(DEFAULT_IGNORE_RULE);
    return rules;
  }

  get length(): number {
    return this.rules.length;
  }

  /** Adds one line; blank lines and comments are skipped. Throws IgnorePatternError for a malformed pattern. */
  add(line: string): void {
    let rule = line.trim();
    if (rule === '' || rule.startsWith('#')) return;
    if (rule.includes('**')) throw new IgnorePatternError(`pattern '${rule}': double-star (**) syntax is not supported`);
    try {
      goPathMatch(rule, 'abc');
    } catch {
      throw new IgnorePatternError(`pattern '${rule}' is malformed`);
    }
    const raw = rule;
    let negate = false;
    let mustDir = false;
    if (rule.startsWith('!')) {
      negate = true;
      rule = rule.slice(1);
    }
    if (rule.endsWith('/')) {
      mustDir = true;
      rule = rule.slice(0, -1);
    }
    let match: (path: string) => boolean;
    if (rule.startsWith('/')) {
      const anchored = rule.replace(/^\/+/, '');
      match = (p) => safeMatch(anchored, p);
    } else if (rule.includes('/')) {
      match = (p) => safeMatch(rule, p);
    } else {
      match = (p) => safeMatch(rule, p.slice(p.lastIndexOf('/') + 1));
    }
    this.rules.push({ raw, negate, mustDir, match });
  }

  /** Whether `path` (relative to the chart root, `/`-separated) is left out of the chart. */
  ignores(path: string, isDir: boolean): boolean {
    if (path === '' || path === '.' || path === './') return false;
    for (const rule of this.rules) {
      if (rule.negate) {
        if (rule.mustDir && !isDir) return true;
        if (!rule.match(path)) return true;
        continue;
      }
      if (rule.mustDir && !isDir) continue;
      if (rule.match(path)) return true;
    }
    return false;
  }
}

function safeMatch(pattern: string, name: string): boolean {
  try {
    return goPathMatch(pattern, name);
  } catch {
    return false;
  }
}

class BadPattern extends Error {}

/**
 * Go's `path/filepath.Match` on a `/`-separated system: `*` and `?` never match `/`, `[...]` classes with `^`
 * negation and `lo-hi` ranges, `\` escapes. Throws for a malformed pattern, as Go returns ErrBadPattern (Go also
 * checks the rest of the pattern after a mismatch, so a malformed pattern is an error whatever the name).
 */
export function goPathMatch(pattern: string, name: string): boolean {
  let pat = Array.from(pattern);
  let str = Array.from(name);
  patternLoop: while (pat.length > 0) {
    const scanned = scanChunk(pat);
    const star = scanned.star;
    const chunk = scanned.chunk;
    pat = scanned.rest;
    if (star && chunk.length === 0) return !str.includes('/');
    const first = matchChunk(chunk, str);
    if (first.ok && (first.rest.length === 0 || pat.length > 0)) {
      str = first.rest;
      continue;
    }
    if (star) {
      for (let i = 0; i < str.length && str[i] !== '/'; i++) {
        const attempt = matchChunk(chunk, str.slice(i + 1));
        if (attempt.ok) {
          if (pat.length === 0 && attempt.rest.length > 0) continue;
          str = attempt.rest;
          continue patternLoop;
        }
      }
    }
    while (pat.length > 0) {
      const next = scanChunk(pat);
      pat = next.rest;
      matchChunk(next.chunk, []);
    }
    return false;
  }
  return str.length === 0;
}

function scanChunk(pattern: string[]): { star: boolean; chunk: string[]; rest: string[] } {
  let star = false;
  let p = pattern;
  while (p.length > 0 && p[0] === '*') {
    p = p.slice(1);
    star = true;
  }
  let inRange = false;
  let i = 0;
  scan: for (; i < p.length; i++) {
    switch (p[i]) {
      case '\\':
        if (i + 1 < p.length) i++;
        break;
      case '[':
        inRange = true;
        break;
      case ']':
        inRange = false;
        break;
      case '*':
        if (!inRange) break scan;
        break;
    }
  }
  return { star, chunk: p.slice(0, i), rest: p.slice(i) };
}

function matchChunk(chunkIn: string[], sIn: string[]): { rest: string[]; ok: boolean } {
  let chunk = chunkIn;
  let s = sIn;
  let failed = false;
  while (chunk.length > 0) {
    if (!failed && s.length === 0) failed = true;
    switch (chunk[0]) {
      case '[': {
        let r = '';
        if (!failed) {
          r = s[0];
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        let negated = false;
        if (chunk.length > 0 && chunk[0] === '^') {
          negated = true;
          chunk = chunk.slice(1);
        }
        let match = false;
        let nrange = 0;
        for (;;) {
          if (chunk.length > 0 && chunk[0] === ']' && nrange > 0) {
            chunk = chunk.slice(1);
            break;
          }
          const lo = getEsc(chunk);
          chunk = lo.rest;
          let hi = lo.char;
          if (chunk[0] === '-') {
            const h = getEsc(chunk.slice(1));
            hi = h.char;
            chunk = h.rest;
          }
          if (!failed && codePoint(lo.char) <= codePoint(r) && codePoint(r) <= codePoint(hi)) match = true;
          nrange++;
        }
        if (match === negated) failed = true;
        break;
      }
      case '?':
        if (!failed) {
          if (s[0] === '/') failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
        break;
      default:
        if (chunk[0] === '\\') {
          // An escaped character is matched literally.
          chunk = chunk.slice(1);
          if (chunk.length === 0) throw new BadPattern();
        }
        if (!failed) {
          if (chunk[0] !== s[0]) failed = true;
          s = s.slice(1);
        }
        chunk = chunk.slice(1);
    }
  }
  return failed ? { rest: [], ok: false } : { rest: s, ok: true };
}

function getEsc(chunkIn: string[]): { char: string; rest: string[] } {
  let chunk = chunkIn;
  if (chunk.length === 0 || chunk[0] === '-' || chunk[0] === ']') throw new BadPattern();
  if (chunk[0] === '\\') {
    chunk = chunk.slice(1);
    if (chunk.length === 0) throw new BadPattern();
  }
  const char = chunk[0];
  const rest = chunk.slice(1);
  if (rest.length === 0) throw new BadPattern();
  return { char, rest };
}

function codePoint(c: string): number {
  return c.codePointAt(0) ?? -1;
}
