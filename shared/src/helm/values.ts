// Pins the image by digest in values.yaml. The file is read with `yaml` (see ./yaml.ts) for what it means, and
// edited as text at the source ranges of the nodes that change, so every other byte (comments, key order, blank
// lines, quoting, indentation, line ends) stays as written. Image references are checked by reference/.
import { isDeepStrictEqual } from 'node:util';
import type { Document, Node, Pair, YAMLMap } from 'yaml';
import { InvalidReferenceError, isDigest, parseRepository, printable, tagProblem } from '../reference';
import { ChartError, optionError } from './errors';
import { dumpYamlQuoted, isBlockMap, keyText, parseYamlDocument, yamlValue, yamlLibrary } from './yaml';

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
  /** True when `defaultTag` came from the appVersion option rather than Chart.yaml, so its problems blame the option. */
  defaultTagFromOption?: boolean;
}

export interface PinResult {
  text: string;
  /** `key.path=value` for each value written, for the log. */
  settings: string[];
  /**
   * Key paths whose flow-style map (`{…}`) or alias (`*anchor`) had to be written out as a block map to take the new
   * keys; comments inside those values are not kept. Empty in the usual case.
   */
  rewritten: string[];
}

/** Keys that name JavaScript object machinery rather than a value; a key path through them is refused. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Indentation step for new nested maps when the file has none to copy. */
const DEFAULT_INDENT = 2;

function repositoryProblem(value: string): string | undefined {
  try {
    parseRepository(value, { defaultRegistry: '' });
    return undefined;
  } catch (err) {
    if (err instanceof InvalidReferenceError) return err.reason;
    throw err;
  }
}

/** Checks imageValuesKey: a dotted path of keys, none of them JavaScript's own (`__proto__`). Returns its segments. */
export function checkValuesKey(valuesKey: string): string[] {
  const segments = valuesKey.split('.');
  if (segments.some((s) => s.trim() === '')) {
    throw optionError('imageValuesKey', `is '${printable(valuesKey)}', which is not a dotted key path (e.g. image or app.image)`);
  }
  const reserved = segments.find((s) => RESERVED_KEYS.has(s));
  if (reserved) {
    throw optionError(
      'imageValuesKey',
      `is '${printable(valuesKey)}', which uses the reserved key '${reserved}': name the values map that holds the image (e.g. image)`,
    );
  }
  return segments;
}

/**
 * Checks the pin's inputs before any file is read; each error blames its option. Returns the key path's segments.
 */
export function checkImagePin(pin: Pick<ImagePin, 'valuesKey' | 'repository' | 'digest'>): string[] {
  const segments = checkValuesKey(pin.valuesKey);
  if (!isDigest(pin.digest)) {
    throw optionError('imageDigest', `is not a digest: '${printable(pin.digest)}' (expected sha256: followed by 64 lower-case hex digits)`);
  }
  if (pin.repository !== undefined) {
    const problem = repositoryProblem(pin.repository);
    if (problem) {
      throw optionError(
        'imageRepository',
        `is not an image repository: '${printable(pin.repository)}' (${printable(problem)}): write host/path, without tag or digest`,
      );
    }
  }
  return segments;
}

/** How many of a map's keys a message lists when the key path names none of them. */
const MAX_LISTED_KEYS = 10;

function listKeys(map: Record<string, unknown>): string {
  const keys = Object.keys(map);
  if (keys.length === 0) return 'it holds no keys';
  const listed = keys
    .slice(0, MAX_LISTED_KEYS)
    .map((k) => printable(k, 60))
    .join(', ');
  return `its keys: ${listed}${keys.length > MAX_LISTED_KEYS ? `, and ${keys.length - MAX_LISTED_KEYS} more` : ''}`;
}

/**
 * The map at the key path, or `{}` when the last key is there but empty (`image:` or `image: ~`, to be filled). A
 * key path that names nothing is refused rather than created: the templates would never read what it pinned.
 */
function imageMap(values: Record<string, unknown>, segments: string[], valuesKey: string, file: string): Record<string, unknown> {
  const fix = "name the values map that holds the image's repository and tag";
  let node = values;
  for (let i = 0; i < segments.length; i++) {
    const at = segments.slice(0, i + 1).join('.');
    const where = i === 0 ? 'at the top' : `under '${printable(segments.slice(0, i).join('.'))}'`;
    if (!Object.hasOwn(node, segments[i])) {
      throw optionError(
        'imageValuesKey',
        `is '${printable(valuesKey)}', but ${file} has no '${printable(at)}' (${where}, ${listKeys(node)}): ${fix}`,
      );
    }
    const value = node[segments[i]];
    if (value === null || value === undefined) {
      if (i === segments.length - 1) return {};
      throw optionError('imageValuesKey', `is '${printable(valuesKey)}', but '${printable(at)}' in ${file} is empty: ${fix}`);
    }
    if (!isPlainMap(value)) {
      throw optionError(
        'imageValuesKey',
        `is '${printable(valuesKey)}', but '${printable(at)}' in ${file} holds ${describe(value)}, not a map: ${fix}`,
      );
    }
    node = value;
  }
  return node;
}

/**
 * Pins the image by digest in values.yaml text:
 * - `<key>.repository` gets `repository` when given (split into `<key>.registry` + `<key>.repository` when the map
 *   has a `registry` key and the repository names a host);
 * - where the map has a `digest` key, that key gets the digest and the tag is left alone (charts that render
 *   `repository@digest` themselves);
 * - otherwise `<key>.tag` becomes `<tag>@<digest>`, so the common `{{ .repository }}:{{ .tag }}` template renders
 *   `repository:tag@sha256:…`, which pulls by digest. The tag is the existing one (a previous `@digest` removed),
 *   else `defaultTag`.
 * A key path that names nothing, or runs through something that is not a map, is refused (blaming imageValuesKey);
 * the last map may be empty (`image:`) and missing keys in it are added. Only the changed values'
 * text is touched; the result is parsed again and must hold exactly the intended values.
 */
export function pinImageInValues(text: string, pin: ImagePin, file: string): PinResult {
  const segments = checkImagePin(pin);
  const values = yamlValue(parseYamlDocument(text, file, '1.1'), file) ?? {};
  if (!isPlainMap(values)) throw new ChartError(`${file} is not a map of values, so the image cannot be pinned in it`);

  const image = imageMap(values, segments, pin.valuesKey, file);
  const sets: [string[], string][] = [];
  if (pin.repository) {
    const ref = parseRepository(pin.repository, { defaultRegistry: '' });
    if (ref.registry && Object.hasOwn(image, 'registry')) {
      sets.push([[...segments, 'registry'], ref.registry]);
      sets.push([[...segments, 'repository'], ref.repository]);
    } else {
      sets.push([[...segments, 'repository'], pin.repository]);
    }
  }
  if (Object.hasOwn(image, 'digest')) {
    sets.push([[...segments, 'digest'], pin.digest]);
  } else {
    const existing = image.tag;
    if (existing !== undefined && existing !== null && typeof existing === 'object') {
      throw new ChartError(
        `values key '${pin.valuesKey}.tag' in ${file} is not a scalar (it holds ${describe(existing)}), so it cannot carry the digest`,
      );
    }
    const current = existing === undefined || existing === null ? '' : `${existing as string | number | boolean}`.replace(/@.*$/, '');
    const tag = current || pin.defaultTag || '';
    if (!tag) {
      throw optionError(
        'appVersion',
        `is not set, and neither Chart.yaml's appVersion nor '${pin.valuesKey}.tag' in ${file} gives a tag: set appVersion to the image's tag (the tag that goes with the digest)`,
      );
    }
    const problem = tagProblem(tag);
    if (problem) {
      const reason = `(${printable(problem)}), so the digest cannot be pinned after it`;
      if (current) throw new ChartError(`'${pin.valuesKey}.tag' in ${file} is not an image tag ${reason}: set it to the image's tag`);
      if (pin.defaultTagFromOption)
        throw optionError('appVersion', `is '${printable(tag)}', which is not an image tag ${reason}: set it to the image's tag`);
      throw new ChartError(`Chart.yaml's appVersion '${printable(tag)}' is not an image tag ${reason}: set appVersion to the image's tag`);
    }
    sets.push([[...segments, 'tag'], `${tag}@${pin.digest}`]);
  }

  const expected = copyValues(values) as Record<string, unknown>;
  let edited = text;
  const rewritten: string[] = [];
  for (const [keyPath, value] of sets) {
    setIn(expected, keyPath, value);
    const step = setInText(edited, keyPath, value, file);
    edited = step.text;
    if (step.rewritten && !rewritten.includes(step.rewritten)) rewritten.push(step.rewritten);
  }
  const settings = sets.map(([k, v]) => `${k.join('.')}=${v}`);
  if (!isDeepStrictEqual(yamlValue(parseYamlDocument(edited, file, '1.1'), file), expected)) {
    // Never expected: the editor changes only the nodes it sets. Refusing beats packaging values nobody asked for.
    throw new ChartError(`${file}: setting ${settings.join(', ')} would change other values; please report this values.yaml layout`);
  }
  return { text: edited, settings, rewritten };
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  if (typeof value === 'object' && value !== null) return 'a map';
  if (typeof value === 'string') return `the string '${value.length > 60 ? `${value.slice(0, 60)}…` : value}'`;
  return `the ${typeof value} ${String(value)}`;
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A copy without shared nodes: an alias target is not changed through the alias. */
function copyValues(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyValues);
  if (isPlainMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copyValues(v)]));
  return value;
}

function setIn(root: Record<string, unknown>, keyPath: string[], value: unknown): Record<string, unknown> {
  let node = root;
  for (const key of keyPath.slice(0, -1)) {
    if (!isPlainMap(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keyPath[keyPath.length - 1]] = value;
  return root;
}

/** `{a: {b: value}}` for `[a, b]`; the value itself for `[]`. */
function nested(keyPath: string[], value: unknown): unknown {
  return keyPath.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
}

/** One edit of the text; `rewritten` names a flow map or alias that was written out as a block map. */
interface Edit {
  text: string;
  rewritten?: string;
}

/**
 * Sets one string at `keyPath`, editing only the text of the node that changes:
 * - an existing scalar (or alias) at the end of the path: its source is replaced, a comment after it stays;
 * - a missing key: a line (or nested lines) is added after the last entry of the innermost existing block map,
 *   indented like that map's entries;
 * - a key on the way that is empty, `~`, `{}`, a flow map or an alias: its value is replaced by a block map that
 *   holds what it held plus the new keys.
 */
function setInText(text: string, keyPath: string[], value: string, file: string): Edit {
  const doc = parseYamlDocument(text, file, '1.1');
  const layout = new Layout(text, doc);
  const root = doc.contents;
  if (root === null || (yamlLibrary().isScalar(root) && root.value === null)) {
    const start = root?.range?.[0] ?? text.length;
    const end = root?.range?.[1] ?? text.length;
    return { text: layout.appendLines(text.slice(0, start) + text.slice(end), nested(keyPath, value), 0) };
  }
  if (!isBlockMap(root)) {
    const block = layout.render(setIn(copyValues(toValue(root, doc, file)) as Record<string, unknown>, keyPath, value), 0);
    const [start, end] = root.range ?? [0, text.length];
    return { text: text.slice(0, start) + block.trimEnd() + text.slice(end), rewritten: '(the whole file)' };
  }
  let map: YAMLMap<Node, Node | null> = root;
  for (let i = 0; i < keyPath.length; i++) {
    const pair = map.items.find((p) => keyText(p.key) === keyPath[i]);
    const rest = keyPath.slice(i + 1);
    if (!pair) return { text: layout.insertPair(map, keyPath[i], nested(rest, value)) };
    const node = pair.value;
    if (rest.length === 0) return { text: layout.replaceScalar(pair, value) };
    if (isBlockMap(node)) {
      map = node;
      continue;
    }
    const empty = node === null || (yamlLibrary().isScalar(node) && node.value === null);
    const current = empty ? {} : (copyValues(toValue(node, doc, file)) as Record<string, unknown>);
    const edit = { text: layout.replaceWithBlock(pair, setIn(current, rest, value)) };
    return empty ? edit : { ...edit, rewritten: keyPath.slice(0, i + 1).join('.') };
  }
  throw new ChartError(`${file}: the key path '${keyPath.join('.')}' is empty`);
}

function toValue(node: Node, doc: Document, file: string): unknown {
  const value: unknown = node.toJS(doc, { maxAliasCount: -1 });
  if (!isPlainMap(value)) throw new ChartError(`${file}: '${String(value)}' is not a map`);
  return value;
}

/** Where things are in the text, and how to write new lines so they look like the file's own. */
class Layout {
  private readonly eol: string;
  private readonly unit: number;

  constructor(
    private readonly text: string,
    doc: Document,
  ) {
    this.eol = text.includes('\r\n') ? '\r\n' : '\n';
    this.unit = this.indentUnit(doc);
  }

  /** The file's indentation step: the first nested block map's offset from its key. */
  private indentUnit(doc: Document): number {
    let unit = 0;
    yamlLibrary().visit(doc, {
      Pair: (_, pair) => {
        if (!isBlockMap(pair.value) || !yamlLibrary().isScalar(pair.key) || !pair.key.range) return undefined;
        const first = pair.value.items[0]?.key;
        if (!yamlLibrary().isScalar(first) || !first.range) return undefined;
        const step = this.column(first.range[0]) - this.column(pair.key.range[0]);
        if (step <= 0) return undefined;
        unit = step;
        return yamlLibrary().visit.BREAK;
      },
    });
    return unit || DEFAULT_INDENT;
  }

  private column(offset: number): number {
    return offset - (this.text.lastIndexOf('\n', offset - 1) + 1);
  }

  /** Offset just past the line break ending the line that holds `offset` (the text's end when there is none). */
  private lineEnd(text: string, offset: number): number {
    const newline = text.indexOf('\n', offset);
    return newline < 0 ? text.length : newline + 1;
  }

  /** `value` as block YAML lines at `column`, in the file's line ends. */
  render(value: unknown, column: number): string {
    const pad = ' '.repeat(column);
    return dumpYamlQuoted(value, this.unit)
      .split('\n')
      .map((line) => (line ? pad + line : line))
      .join(this.eol);
  }

  /** Inserts rendered lines at `offset` (a line start, or the end of a text without a final line break). */
  private insertLines(text: string, offset: number, value: unknown, column: number): string {
    const lines = this.render(value, column);
    if (offset < text.length || /\n$/.test(text) || text === '') return text.slice(0, offset) + lines + text.slice(offset);
    // The file had no final line break: neither does the result.
    return text + this.eol + lines.slice(0, -this.eol.length);
  }

  appendLines(text: string, value: unknown, column: number): string {
    return this.insertLines(text, text.length, value, column);
  }

  /** Adds `key: value` after the map's last entry, at the column of its first key. */
  insertPair(map: YAMLMap<Node, Node | null>, key: string, value: unknown): string {
    const first = map.items[0].key;
    const end = map.range![1];
    const at = this.text[end - 1] === '\n' ? end : this.lineEnd(this.text, end);
    return this.insertLines(this.text, at, { [key]: value }, this.column(first.range![0]));
  }

  /** Replaces the pair's scalar (or alias) value by `value` as a quoted string; what follows on the line stays. */
  replaceScalar(pair: Pair<Node, Node | null>, value: string): string {
    const node = pair.value;
    if (node && (yamlLibrary().isScalar(node) || yamlLibrary().isAlias(node)) && node.range && node.range[1] > node.range[0]) {
      const [start, end] = node.range;
      const old = this.text.slice(start, end);
      const single = yamlLibrary().isScalar(node) && node.type === 'QUOTE_SINGLE';
      const quoted = single ? `'${value.replace(/'/g, "''")}'` : JSON.stringify(value);
      // A block scalar's range takes its last line break along.
      const keep = /\r?\n$/.exec(old)?.[0] ?? '';
      return this.text.slice(0, start) + quoted + keep + this.text.slice(end);
    }
    const colon = this.colonAfter(pair);
    return `${this.text.slice(0, colon)} ${JSON.stringify(value)}${this.text.slice(colon)}`;
  }

  /** Replaces the pair's value by `value` as a block map on the following lines; a comment after the key stays. */
  replaceWithBlock(pair: Pair<Node, Node | null>, value: unknown): string {
    const colon = this.colonAfter(pair);
    const end = pair.value?.range && pair.value.range[1] > colon ? pair.value.range[1] : colon;
    const text = this.text.slice(0, colon) + this.text.slice(end);
    const column = this.column(pair.key.range![0]) + this.unit;
    return this.insertLines(text, this.lineEnd(text, colon), value, column);
  }

  /** Offset just past the `:` that ends the pair's key. */
  private colonAfter(pair: Pair<Node, Node | null>): number {
    const keyEnd = pair.key.range![1];
    const colon = this.text.indexOf(':', keyEnd);
    return colon + 1;
  }
}
