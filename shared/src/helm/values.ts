import { isDeepStrictEqual } from 'node:util';
import * as yaml from 'js-yaml';
import { ChartError } from './errors';
import { isMap } from './metadata';

/** What to pin in values.yaml. */
export interface ImagePin {
  /** Dotted key path of the map that holds the image (`image`, `app.image`). */
  valuesKey: string;
  /** Replaces the repository (`myacr.azurecr.io/delivery`); when absent the chart's repository stays. */
  repository?: string;
  /** `sha256:<64 hex>`. */
  digest: string;
  /** The tag written before `@digest` when values.yaml has none: the chart's appVersion. */
  defaultTag?: string;
}

export interface PinResult {
  text: string;
  /** `key.path=value` for each value written, for the log. */
  settings: string[];
  /** False when values.yaml had to be re-serialised (comments lost) because a surgical edit was not possible. */
  commentsKept: boolean;
}

const DIGEST = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST = /^(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;

export function isImageDigest(value: string): boolean {
  return DIGEST.test(value);
}

/** The first segment is a registry host when it has `.` or `:` or is `localhost` (the Docker reference rule). */
function splitHost(repository: string): { host?: string; path: string } {
  const slash = repository.indexOf('/');
  if (slash < 0) return { path: repository };
  const first = repository.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return { host: first, path: repository.slice(slash + 1) };
  return { path: repository };
}

/** Whether `value` is an image repository without tag or digest (`host[:port]/path` or `path`). */
export function isImageRepository(value: string): boolean {
  const { host, path } = splitHost(value);
  if (host !== undefined && !HOST.test(host)) return false;
  return path.length > 0 && path.split('/').every((c) => PATH_COMPONENT.test(c));
}

/**
 * Pins the image by digest in values.yaml text, editing only the lines that change so comments and layout stay:
 * - `<key>.repository` gets `repository` when given (split into `<key>.registry` + `<key>.repository` when the map
 *   has a `registry` key and the repository names a host);
 * - where the map has a `digest` key, that key gets the digest and the tag is left alone (charts that render
 *   `repository@digest` themselves);
 * - otherwise `<key>.tag` becomes `<tag>@<digest>`, so the common `{{ .repository }}:{{ .tag }}` template renders
 *   `repository:tag@sha256:…`, which pulls by digest. The tag is the existing one (a previous `@digest` removed),
 *   else `defaultTag`.
 * A key path through something that is not a map is an error; missing maps are created.
 * The result is re-parsed and compared with the intended values; should the surgical edit not produce exactly
 * them (anchors, flow style, multi-line scalars), values.yaml is re-serialised instead and `commentsKept` is false.
 */
export function pinImageInValues(text: string, pin: ImagePin, file: string): PinResult {
  const segments = pin.valuesKey.split('.');
  if (segments.some((s) => s.trim() === '')) {
    throw new ChartError(`imageValuesKey '${pin.valuesKey}' is not a dotted key path (e.g. image or app.image)`);
  }
  if (!isImageDigest(pin.digest)) {
    throw new ChartError(`imageDigest '${pin.digest}' is not a digest: expected sha256: followed by 64 lower-case hex digits`);
  }
  if (pin.repository !== undefined && !isImageRepository(pin.repository)) {
    throw new ChartError(`imageRepository '${pin.repository}' is not an image repository (host/path, lower case, without tag or digest)`);
  }
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: file });
  } catch (err) {
    throw new ChartError(`${file} is not valid YAML: ${err instanceof yaml.YAMLException ? err.reason : (err as Error).message}`);
  }
  if (doc === undefined || doc === null) doc = {};
  if (!isMap(doc)) throw new ChartError(`${file} is not a map of values, so the image cannot be pinned in it`);

  let node: Record<string, unknown> | undefined = doc;
  for (let i = 0; i < segments.length && node; i++) {
    const value: unknown = node[segments[i]];
    if (value === undefined || value === null) {
      node = undefined;
      break;
    }
    if (!isMap(value)) {
      const at = segments.slice(0, i + 1).join('.');
      throw new ChartError(
        `values key path '${at}' in ${file} is not a map (it holds ${describe(value)}), so the image cannot be pinned under ` +
          `'${pin.valuesKey}'; set imageValuesKey to the map that holds the image's repository and tag`,
      );
    }
    node = value;
  }
  const image = node ?? {};

  const sets: [string[], string][] = [];
  if (pin.repository) {
    const { host, path } = splitHost(pin.repository);
    if (host && 'registry' in image) {
      sets.push([[...segments, 'registry'], host]);
      sets.push([[...segments, 'repository'], path]);
    } else {
      sets.push([[...segments, 'repository'], pin.repository]);
    }
  }
  if ('digest' in image) {
    sets.push([[...segments, 'digest'], pin.digest]);
  } else {
    const existing = image.tag;
    if (existing !== undefined && existing !== null && typeof existing === 'object') {
      throw new ChartError(`values key '${pin.valuesKey}.tag' in ${file} is not a scalar, so it cannot carry the digest`);
    }
    const current = existing === undefined || existing === null ? '' : String(existing).replace(/@.*$/, '');
    const tag = current || pin.defaultTag || '';
    if (!tag) {
      throw new ChartError(
        `${file}: '${pin.valuesKey}.tag' is empty and the chart has no appVersion: set appVersion (the tag that goes with the digest)`,
      );
    }
    sets.push([[...segments, 'tag'], `${tag}@${pin.digest}`]);
  }

  const expected = deepCopy(doc) as Record<string, unknown>;
  for (const [keyPath, value] of sets) setIn(expected, keyPath, value);
  const settings = sets.map(([k, v]) => `${k.join('.')}=${v}`);

  let edited: string | undefined;
  try {
    let current = text;
    for (const [keyPath, value] of sets) current = setScalarInText(current, keyPath, value);
    edited = current;
  } catch (err) {
    if (!(err instanceof NotSurgical)) throw err;
  }
  if (edited !== undefined && sameValues(edited, expected)) return { text: edited, settings, commentsKept: true };
  return { text: yaml.dump(expected, { lineWidth: -1, noRefs: true }), settings, commentsKept: false };
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string '${value.length > 60 ? `${value.slice(0, 60)}…` : value}'`;
  return `the ${typeof value} ${String(value)}`;
}

/** A copy without shared nodes: an alias target is not changed through the alias. */
function deepCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(deepCopy);
  if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, deepCopy(v)]));
  return value;
}

function setIn(root: Record<string, unknown>, keyPath: string[], value: string): void {
  let node = root;
  for (const key of keyPath.slice(0, -1)) {
    if (!isMap(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keyPath[keyPath.length - 1]] = value;
}

function sameValues(text: string, expected: unknown): boolean {
  try {
    const parsed = yaml.load(text) ?? {};
    return isDeepStrictEqual(parsed, expected);
  } catch {
    return false;
  }
}

class NotSurgical extends Error {}

interface Line {
  /** Without the line break; a `\r` of a CRLF file is kept in `cr`. */
  content: string;
  cr: boolean;
}

const DEFAULT_INDENT = 2;

/**
 * Sets one scalar at `keyPath` in block-style YAML text by editing lines: replaces the value of an existing key
 * (keeping its trailing comment), turns an empty/`null`/`{}` map into a block, or inserts the missing keys after the
 * last line of the innermost existing map. Throws NotSurgical for shapes it does not edit (flow maps with content,
 * anchors, block scalars, keys with nested content where a scalar should be).
 */
function setScalarInText(text: string, keyPath: string[], value: string): string {
  const finalEol = text.endsWith('\n');
  const raw = text === '' ? [] : text.split('\n');
  if (finalEol) raw.pop();
  const lines: Line[] = raw.map((l) => (l.endsWith('\r') ? { content: l.slice(0, -1), cr: true } : { content: l, cr: false }));
  const crlf = lines.length > 0 && lines[0].cr;
  if (!finalEol && lines.length > 0) lines[lines.length - 1].cr = crlf;
  const unit = indentUnit(lines);
  const newLine = (content: string): Line => ({ content, cr: crlf });
  const done = (): string => {
    const out = lines.map((l) => `${l.content}${l.cr ? '\r' : ''}\n`).join('');
    return finalEol ? out : out.replace(crlf ? /\r\n$/ : /\n$/, '');
  };

  let start = 0;
  let end = lines.length;
  let parentIndent = -unit;
  let parentLine = -1;
  for (let i = 0; i < keyPath.length; i++) {
    const blockIndent = firstContentIndent(lines, start, end);
    let found = -1;
    if (blockIndent !== undefined) {
      for (let j = start; j < end; j++) {
        if (!isContent(lines[j].content) || indentOf(lines[j].content) !== blockIndent) continue;
        const key = parseKeyLine(lines[j].content);
        if (key && key.key === keyPath[i]) {
          found = j;
          break;
        }
      }
    }
    if (found < 0) {
      const indent = blockIndent ?? parentIndent + unit;
      const at = parentLine < 0 ? lines.length : Math.max(lastContentLine(lines, start, end), parentLine) + 1;
      lines.splice(at, 0, ...nestedLines(keyPath.slice(i), value, indent, unit).map(newLine));
      return done();
    }
    const line = lines[found].content;
    const key = parseKeyLine(line)!;
    const indent = indentOf(line);
    const inline = parseInlineValue(line.slice(key.valueStart));
    const childEnd = blockEnd(lines, found, indent);
    const hasChildren = lastContentLine(lines, found + 1, childEnd) >= 0;
    if (i === keyPath.length - 1) {
      if (hasChildren || inline.kind === 'complex' || inline.kind === 'emptyFlowMap') throw new NotSurgical();
      lines[found].content = `${line.slice(0, key.valueStart)} ${JSON.stringify(value)}${inline.trailer}`;
      return done();
    }
    if (inline.kind === 'empty' && hasChildren) {
      start = found + 1;
      end = childEnd;
      parentIndent = indent;
      parentLine = found;
      continue;
    }
    if ((inline.kind === 'empty' || inline.kind === 'null' || inline.kind === 'emptyFlowMap') && !hasChildren) {
      lines[found].content = `${line.slice(0, key.valueStart)}${inline.trailer}`;
      lines.splice(found + 1, 0, ...nestedLines(keyPath.slice(i + 1), value, indent + unit, unit).map(newLine));
      return done();
    }
    throw new NotSurgical();
  }
  throw new NotSurgical();
}

function nestedLines(keys: string[], value: string, indent: number, unit: number): string[] {
  return keys.map((k, i) => {
    const pad = ' '.repeat(indent + i * unit);
    return i === keys.length - 1 ? `${pad}${keyText(k)}: ${JSON.stringify(value)}` : `${pad}${keyText(k)}:`;
  });
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_./-]*$/;
const RESERVED = /^(?:true|false|yes|no|on|off|null|y|n|~)$/i;

function keyText(key: string): string {
  return PLAIN_KEY.test(key) && !RESERVED.test(key) ? key : JSON.stringify(key);
}

function indentOf(content: string): number {
  return content.length - content.replace(/^ +/, '').length;
}

/** A line that carries YAML content: not blank, not a comment, not a document marker or directive. */
function isContent(content: string): boolean {
  const t = content.trim();
  if (t === '' || t.startsWith('#')) return false;
  if (/^(?:---|\.\.\.)(?:\s|$)/.test(content) || content.startsWith('%')) return false;
  return true;
}

function firstContentIndent(lines: Line[], start: number, end: number): number | undefined {
  for (let j = start; j < end; j++) if (isContent(lines[j].content)) return indentOf(lines[j].content);
  return undefined;
}

function lastContentLine(lines: Line[], start: number, end: number): number {
  for (let j = end - 1; j >= start; j--) if (isContent(lines[j].content)) return j;
  return -1;
}

/** The first line after `keyLine` that starts a sibling or an outer key: the end of the key's nested block. */
function blockEnd(lines: Line[], keyLine: number, indent: number): number {
  for (let j = keyLine + 1; j < lines.length; j++) {
    if (isContent(lines[j].content) && indentOf(lines[j].content) <= indent) return j;
  }
  return lines.length;
}

function indentUnit(lines: Line[]): number {
  let unit = 0;
  for (const l of lines) {
    if (!isContent(l.content)) continue;
    const n = indentOf(l.content);
    if (n > 0 && (unit === 0 || n < unit)) unit = n;
  }
  return unit || DEFAULT_INDENT;
}

/** `key:` at the start of a line (after indentation): plain, double- or single-quoted. */
function parseKeyLine(content: string): { key: string; valueStart: number } | undefined {
  const indent = indentOf(content);
  const s = content.slice(indent);
  if (s === '-' || s.startsWith('- ') || /^[?&*!|>{[%@`]/.test(s)) return undefined;
  let key: string;
  let after: number;
  if (s.startsWith('"') || s.startsWith("'")) {
    const end = quotedEnd(s, 0);
    if (end < 0) return undefined;
    try {
      key = String(yaml.load(s.slice(0, end + 1)));
    } catch {
      return undefined;
    }
    after = end + 1;
    while (s[after] === ' ' || s[after] === '\t') after++;
    if (s[after] !== ':') return undefined;
  } else {
    const m = /:(?:[ \t]|$)/.exec(s);
    if (!m) return undefined;
    const candidate = s.slice(0, m.index);
    if (/[ \t]#/.test(candidate)) return undefined;
    key = candidate.trimEnd();
    after = m.index;
  }
  const next = s[after + 1];
  if (next !== undefined && next !== ' ' && next !== '\t') return undefined;
  return { key, valueStart: indent + after + 1 };
}

/** Index of the closing quote of the quoted scalar starting at `from`, or -1. */
function quotedEnd(s: string, from: number): number {
  const q = s[from];
  for (let i = from + 1; i < s.length; i++) {
    if (q === '"' && s[i] === '\\') {
      i++;
      continue;
    }
    if (s[i] === q) {
      if (q === "'" && s[i + 1] === "'") {
        i++;
        continue;
      }
      return i;
    }
  }
  return -1;
}

interface InlineValue {
  kind: 'empty' | 'null' | 'scalar' | 'emptyFlowMap' | 'complex';
  /** What follows the value on the line (spaces and a comment), kept when the value is replaced. */
  trailer: string;
}

function parseInlineValue(rest: string): InlineValue {
  const lead = rest.length - rest.trimStart().length;
  const s = rest.slice(lead);
  if (s === '') return { kind: 'empty', trailer: '' };
  if (s.startsWith('#')) return { kind: 'empty', trailer: rest };
  if (s.startsWith('"') || s.startsWith("'")) {
    const end = quotedEnd(s, 0);
    if (end < 0) throw new NotSurgical();
    const trailer = s.slice(end + 1);
    if (trailer.trim() !== '' && !/^[ \t]+#/.test(trailer)) throw new NotSurgical();
    return { kind: 'scalar', trailer: trailer.trim() === '' ? '' : trailer };
  }
  const flowEmpty = /^\{\s*\}([ \t]+#.*)?\s*$/.exec(s);
  if (flowEmpty) return { kind: 'emptyFlowMap', trailer: flowEmpty[1] ?? '' };
  if (/^[{[|>&*!]/.test(s)) return { kind: 'complex', trailer: '' };
  const comment = /[ \t]#/.exec(s);
  const value = (comment ? s.slice(0, comment.index) : s).trimEnd();
  const trailer = comment ? s.slice(value.length) : '';
  return { kind: /^(?:~|null|Null|NULL)$/.test(value) ? 'null' : 'scalar', trailer };
}
