import * as fs from 'node:fs';
import * as path from 'node:path';

// The task resolves `testResultsFiles` itself: task-lib's findMatch may only be used from shared/src/pipeline, and
// the patterns need little of minimatch. Supported: `*`, `?`, `[…]` (`[!…]` negates) within a path segment, `**` as
// a whole segment (any number of folders), a leading `!` to exclude, patterns relative to the search folder or
// absolute. Dot files match (as with findMatch). Folders reached through a symbolic link are not searched (no loops).

const toSlashes = (p: string) => (path.sep === '\\' ? p.replace(/\\/g, '/') : p);
const hasMagic = (segment: string) => /[*?[]/.test(segment);
const escape = (text: string) => text.replace(/[.+^${}()|\\/\]]/g, '\\$&');

function segmentSource(segment: string): string {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^/' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else out += escape(c);
  }
  return out;
}

/** A pattern made absolute (forward slashes) as a RegExp, and the deepest folder before its first wildcard. */
export function compilePattern(pattern: string, searchFolder: string): { regexp: RegExp; base: string } {
  const absolute = toSlashes(path.resolve(searchFolder, pattern));
  const segments = absolute.split('/');
  const literal: string[] = [];
  for (const segment of segments) {
    if (hasMagic(segment)) break;
    literal.push(segment);
  }
  const source = segments
    .map((segment, i) => {
      const last = i === segments.length - 1;
      if (segment === '**') return last ? '.*' : '(?:[^/]+/)*';
      return segmentSource(segment) + (last ? '' : '/');
    })
    .join('');
  const base = literal.length === segments.length ? path.dirname(absolute) : literal.join('/') || '/';
  return { regexp: new RegExp(`^${source}$`, path.sep === '\\' ? 'i' : ''), base };
}

function* walk(dir: string): Generator<string> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // a missing or unreadable folder matches nothing
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full);
    else if (entry.isFile()) yield full;
    else if (entry.isSymbolicLink()) {
      try {
        if (fs.statSync(full).isFile()) yield full;
      } catch {
        // a dangling link is not a result file
      }
    }
  }
}

/** Files under `searchFolder` matching the patterns (minus `!` exclusions), absolute, sorted, each once. */
export function findResultFiles(patterns: string[], searchFolder: string): string[] {
  const includes = patterns.filter((p) => !p.startsWith('!')).map((p) => compilePattern(p, searchFolder));
  const excludes = patterns.filter((p) => p.startsWith('!')).map((p) => compilePattern(p.slice(1), searchFolder).regexp);
  const found = new Set<string>();
  const walked = new Map<string, string[]>();
  for (const { regexp, base } of includes) {
    if (!walked.has(base)) walked.set(base, [...walk(base)]);
    for (const file of walked.get(base)!) {
      const key = toSlashes(file);
      if (regexp.test(key) && !excludes.some((x) => x.test(key))) found.add(file);
    }
  }
  return [...found].sort();
}
