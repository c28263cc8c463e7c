// Pins the image by digest in values.yaml. The file is read with `yaml` (see ./yaml.ts) for what it means, and
// edited as text at the source ranges of the nodes that change, so every other byte (comments, key order, blank
// lines, quoting, indentation, line ends) stays as written. Image references are checked by reference/.
//
// The key path is resolved in the values helm renders with, not in the file alone: a path that starts with a
// subchart's name or alias reaches that subchart's values.yaml merged under the parent's values (helm 3's
// chartutil.CoalesceValues), and the pin is written into the parent's values.yaml there, where helm lets it win.
import { isDeepStrictEqual } from 'node:util';
import type { Document, Node, Pair, YAMLMap } from 'yaml';
import { InvalidReferenceError, isDigest, parseRepository, printable, tagProblem } from '../reference';
import { satisfies } from './dependencies';
import { ChartError, optionError } from './errors';
import type { Chart } from './load';
import { dumpYamlQuoted, isBlockMap, keyText, parseYaml, parseYamlDocument, yamlValue, yamlLibrary } from './yaml';

/** What to pin in values.yaml. */
export interface ImagePin {
  /** Dotted key path of the map that holds the image (`image`, `app.image`, `<subchart name or alias>.image`). */
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
  /** The subchart whose image was pinned (`subchart 'cache' (redis, chart/charts/redis)`), when the key reached one. */
  subchart?: string;
  /**
   * The repository the merged values now name in front of the digest (`registry/repository` where the map keeps the
   * host apart), when they name one.
   */
  repository?: string;
}

/**
 * A vendored subchart as helm merges its values: under `key` (its alias, else its name) in its parent's values, where
 * the parent's values win over the subchart's own values.yaml.
 */
export interface SubchartValues {
  key: string;
  /** The subchart's own chart name. */
  name: string;
  /** Where it lies, for messages: `chart/charts/redis` or `chart/charts/redis-20.1.0.tgz`. */
  where: string;
  appVersion?: string;
  /** Its values.yaml (`{}` when it has none). */
  values: Record<string, unknown>;
  subcharts: SubchartValues[];
}

/**
 * The subcharts helm renders a chart with, under the keys their values lie at (helm v3.17
 * `chartutil.processDependencyEnabled`): a declared dependency matched by name and version constraint lies under
 * its alias (else its name), and may be declared more than once under different aliases; a chart in charts/ that no
 * declared dependency matches lies under its own name.
 */
export function subchartValues(chart: Chart, what: string): SubchartValues[] {
  const declared = chart.metadata.dependencies ?? [];
  const matches = (name: string, constraint: string | undefined, sub: Chart) =>
    sub.metadata.name === name && satisfies(sub.metadata.version, constraint ?? '');
  const subchartOf = (key: string, entry: string, sub: Chart): SubchartValues => {
    const where = `${what}/charts/${entry}`;
    const values = sub.values ? parseYaml(sub.values.toString('utf8'), `${where}/values.yaml`, '1.1') : {};
    if (values !== null && !isPlainMap(values)) throw new ChartError(`${where}/values.yaml is not a map of values`);
    return {
      key,
      name: sub.metadata.name,
      where,
      appVersion: sub.metadata.appVersion,
      values: values ?? {},
      subcharts: subchartValues(sub, where),
    };
  };
  const undeclared = chart.dependencies.filter((d) => !declared.some((dep) => matches(dep.name, dep.version, d.chart)));
  const out = undeclared.map((d) => subchartOf(d.chart.metadata.name, d.entry, d.chart));
  for (const dep of declared) {
    const found = chart.dependencies.find((d) => matches(dep.name, dep.version, d.chart));
    if (found) out.push(subchartOf(dep.alias || dep.name, found.entry, found.chart));
  }
  return out;
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
 * The values helm renders a chart with before any user values: the chart's own (its nulls kept, as helm keeps them),
 * and under each subchart's key the parent's values there coalesced over the subchart's. A parent value at a subchart
 * key that is not a map is left as it is (helm refuses it; see findImageMap).
 */
function mergedValues(own: Record<string, unknown>, subcharts: SubchartValues[]): Record<string, unknown> {
  const merged = copyValues(own) as Record<string, unknown>;
  for (const sub of subcharts) {
    const overlay = merged[sub.key] ?? {};
    if (isPlainMap(overlay)) merged[sub.key] = coalesce(overlay, mergedValues(sub.values, sub.subcharts));
  }
  return merged;
}

/**
 * helm's coalescing of a parent's values over a subchart's, with helm 3.17's nulls: `helm template` first copies each
 * subchart's values up into its parent (nulls too), then coalesces, and a null meeting a subchart key removes it. So
 * below a subchart key a null removes the key whether the parent or the subchart wrote it; only a null the parent
 * writes for a key the subchart lacks stays. The overlay wins everywhere else; maps merge, lists are replaced.
 */
function coalesce(overlay: Record<string, unknown>, base: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(overlay)) {
    if (!Object.hasOwn(base, key)) out[key] = copyValues(value);
    else if (value === null) continue;
    else if (isPlainMap(value) && isPlainMap(base[key])) out[key] = coalesce(value, base[key]);
    else out[key] = copyValues(value);
  }
  for (const [key, value] of Object.entries(base)) {
    if (Object.hasOwn(overlay, key) || value === null) continue;
    out[key] = isPlainMap(value) ? coalesce({}, value) : copyValues(value);
  }
  return out;
}

/** Where the key path leads: the image map as helm merges it, and the subcharts the path went through. */
interface ImageTarget {
  map: Record<string, unknown>;
  /** The subcharts entered, outermost first; empty when the image lies in the chart's own values. */
  chain: SubchartValues[];
}

/** Which values a message speaks of: the file, or the file over a subchart's values.yaml. */
function valuesSource(file: string, chain: SubchartValues[]): string {
  if (chain.length === 0) return file;
  return `the merged values of subchart '${chain.map((s) => s.key).join('.')}' (${file} over ${chain[chain.length - 1].where}/values.yaml)`;
}

function describeSubchart(sub: SubchartValues): string {
  return sub.key === sub.name ? sub.where : `${sub.name}, ${sub.where}`;
}

/**
 * Walks the key path through the merged values. A segment at a chart's top that names one of its subcharts enters
 * that subchart. A path that names nothing, or runs through something that is not a map, is refused (blaming
 * imageValuesKey, listing the keys that are there); the last map may be empty (`image:`).
 */
function findImageMap(
  merged: Record<string, unknown>,
  subcharts: SubchartValues[],
  segments: string[],
  valuesKey: string,
  file: string,
): ImageTarget {
  const fix = 'name the values map that holds the image';
  const chain: SubchartValues[] = [];
  let children = subcharts;
  let chartTop = 0;
  let node = merged;
  for (let i = 0; i < segments.length; i++) {
    const at = segments.slice(0, i + 1).join('.');
    if (!Object.hasOwn(node, segments[i])) {
      const where = i === 0 ? 'at the top' : `under '${printable(segments.slice(0, i).join('.'))}'`;
      const subchartKeys = i === chartTop && children.length > 0 ? `; subcharts: ${children.map((s) => s.key).join(', ')}` : '';
      const missing = chain.length === 0 ? `${file} has no '${printable(at)}'` : `${valuesSource(file, chain)} have no '${printable(at)}'`;
      throw optionError(
        'imageValuesKey',
        `is '${printable(valuesKey)}', but ${missing} (${where}, ${listKeys(node)}${subchartKeys}): ${fix}`,
      );
    }
    const value = node[segments[i]];
    const entered = i === chartTop ? children.find((s) => s.key === segments[i]) : undefined;
    if (entered) {
      if (!isPlainMap(value)) {
        throw new ChartError(
          `'${printable(at)}' in ${file} holds ${describe(value)}, but helm merges the values of subchart ${describeSubchart(entered)} there, so helm cannot render the chart ('type mismatch on ${entered.key}'): make it a map`,
        );
      }
      chain.push(entered);
      children = entered.subcharts;
      chartTop = i + 1;
    }
    const source = valuesSource(file, chain);
    if (value === null || value === undefined) {
      if (i === segments.length - 1) return { map: {}, chain };
      throw optionError('imageValuesKey', `is '${printable(valuesKey)}', but '${printable(at)}' in ${source} is empty: ${fix}`);
    }
    if (!isPlainMap(value)) {
      throw optionError(
        'imageValuesKey',
        `is '${printable(valuesKey)}', but '${printable(at)}' in ${source} holds ${describe(value)}, not a map: ${fix}`,
      );
    }
    node = value;
  }
  return { map: node, chain };
}

/** The image layouts pinning fills, as their keys say. */
interface ImageLayout {
  /** Where the registry host goes, when the map keeps it apart from the repository. */
  registry: boolean;
  /** The key that names the repository: `repository`, or beside a registry `image` or `name`. */
  nameKey?: 'repository' | 'image' | 'name';
  /** Where the digest goes: `digest` (`sha256:…`), `sha` (the hex alone) or `tag` (`<tag>@sha256:…`). */
  digestKey: 'digest' | 'sha' | 'tag';
}

const SUPPORTED_LAYOUTS =
  'repository + tag; registry + repository (or image, or name) + tag; digest (sha256:…); or sha (hex without the prefix)';

function imageLayout(map: Record<string, unknown>, valuesKey: string, source: string): ImageLayout {
  const has = (key: string) => Object.hasOwn(map, key);
  const scalarKeys = ['registry', 'repository', 'image', 'name', 'tag', 'digest', 'sha'].filter(has);
  for (const key of scalarKeys) {
    const value = map[key];
    if (value !== null && typeof value === 'object') {
      if (key === 'image' || key === 'name') continue;
      throw new ChartError(
        `'${printable(`${valuesKey}.${key}`)}' in ${source} is not a scalar (it holds ${describe(value)}), so it cannot be pinned`,
      );
    }
  }
  const isNameKey = (key: 'image' | 'name') => has(key) && (map[key] === null || typeof map[key] !== 'object');
  const registry = has('registry');
  const nameKey = has('repository') ? 'repository' : registry ? (['image', 'name'] as const).find(isNameKey) : undefined;
  const digestKey = has('digest') ? 'digest' : has('sha') ? 'sha' : nameKey ? 'tag' : undefined;
  if (!digestKey) {
    throw optionError(
      'imageValuesKey',
      `is '${printable(valuesKey)}', but '${printable(valuesKey)}' in ${source} is not an image layout pinning can fill (${listKeys(map)}): name a map that holds ${SUPPORTED_LAYOUTS}`,
    );
  }
  return { registry, nameKey, digestKey };
}

/**
 * Pins the image by digest in values.yaml text. The key path is resolved in the values helm merges: a path that starts
 * with a subchart's key (see subchartValues) reaches that subchart's values, and the pin is written into this
 * values.yaml at the same path, where it overrides them. The layout of the image map (as merged) decides what is set:
 * - `repository` gets `repository` when given; beside a `registry` key the repository is split into `registry`
 *   (its host, which it must name) and the name key (`repository`, else `image` or `name`), so the chart's own
 *   registry never stays in front of it;
 * - a `digest` key gets the digest, a `sha` key the digest's hex (charts that render `@sha256:{{ .sha }}`), and the
 *   tag is left alone;
 * - otherwise `tag` becomes `<tag>@<digest>`, so `{{ .repository }}:{{ .tag }}` renders `repository:tag@sha256:…`,
 *   which pulls by digest. The tag is the existing one (a previous `@digest` removed), else `defaultTag` — for a
 *   subchart, the subchart's appVersion.
 * A key path that names nothing, runs through something that is not a map, or ends at a map of none of these layouts
 * is refused (blaming imageValuesKey). Only the changed values' text is touched; the result is parsed and merged again
 * and must hold exactly the intended values.
 */
export function pinImageInValues(text: string, pin: ImagePin, file: string, subcharts: SubchartValues[] = []): PinResult {
  const segments = checkImagePin(pin);
  const values = yamlValue(parseYamlDocument(text, file, '1.1'), file) ?? {};
  if (!isPlainMap(values)) throw new ChartError(`${file} is not a map of values, so the image cannot be pinned in it`);

  const target = findImageMap(mergedValues(values, subcharts), subcharts, segments, pin.valuesKey, file);
  const image = target.map;
  const subchart = target.chain[target.chain.length - 1];
  const source = valuesSource(file, target.chain);
  const layout = imageLayout(image, pin.valuesKey, source);
  const sets: [string[], string][] = [];
  if (pin.repository) sets.push(...repositorySettings(pin.repository, layout, image, pin.valuesKey, source));
  if (layout.digestKey === 'digest') sets.push([['digest'], pin.digest]);
  else if (layout.digestKey === 'sha') sets.push([['sha'], pin.digest.slice('sha256:'.length)]);
  else sets.push([['tag'], `${imageTag(image, pin, subchart, source)}@${pin.digest}`]);

  const expected = copyValues(values) as Record<string, unknown>;
  let edited = text;
  const rewritten: string[] = [];
  for (const [key, value] of sets) {
    const keyPath = [...segments, ...key];
    setIn(expected, keyPath, value);
    const step = setInText(edited, keyPath, value, file);
    edited = step.text;
    if (step.rewritten && !rewritten.includes(step.rewritten)) rewritten.push(step.rewritten);
  }
  const settings = sets.map(([k, v]) => `${[...segments, ...k].join('.')}=${v}`);
  const after = yamlValue(parseYamlDocument(edited, file, '1.1'), file);
  // Never expected: the editor changes only the nodes it sets, and the parent's values win over a subchart's.
  // Refusing beats packaging values nobody asked for, or a pin helm would not render.
  if (!isDeepStrictEqual(after, expected)) {
    throw new ChartError(`${file}: setting ${settings.join(', ')} would change other values; please report this values.yaml layout`);
  }
  const pinned = findImageMap(mergedValues(expected, subcharts), subcharts, segments, pin.valuesKey, file).map;
  if (sets.some(([[key], value]) => pinned[key] !== value)) {
    throw new ChartError(
      `${file}: after setting ${settings.join(', ')}, helm's merged values would not hold them; please report this chart layout`,
    );
  }
  const repository = pinnedRepository(pinned, layout);
  return {
    text: edited,
    settings,
    rewritten,
    ...(subchart && { subchart: `subchart '${target.chain.map((s) => s.key).join('.')}' (${describeSubchart(subchart)})` }),
    ...(repository && { repository }),
  };
}

/** `registry/name` (or the name alone) as the image map holds them; undefined when it names no repository. */
function pinnedRepository(image: Record<string, unknown>, layout: ImageLayout): string | undefined {
  const name = layout.nameKey ? scalarText(image[layout.nameKey]).trim() : '';
  if (!name) return undefined;
  const registry = layout.registry ? scalarText(image.registry).trim() : '';
  return registry ? `${registry}/${name}` : name;
}

function scalarText(value: unknown): string {
  return value === null || value === undefined ? '' : `${value as string | number | boolean}`;
}

/** The registry and name keys for `repository`: split at the host beside a registry key, whole otherwise. */
function repositorySettings(
  repository: string,
  layout: ImageLayout,
  image: Record<string, unknown>,
  valuesKey: string,
  source: string,
): [string[], string][] {
  if (!layout.nameKey) {
    throw optionError(
      'imageRepository',
      `is set, but '${printable(valuesKey)}' in ${source} has no repository key to write it in (${listKeys(image)}): leave imageRepository empty to keep the chart's image, or name a map with a repository in imageValuesKey`,
    );
  }
  if (!layout.registry) return [[[layout.nameKey], repository]];
  const ref = parseRepository(repository, { defaultRegistry: '' });
  if (!ref.registry) {
    const current = scalarText(image.registry);
    throw optionError(
      'imageRepository',
      `is '${printable(repository)}', without a registry host, but '${printable(valuesKey)}' in ${source} keeps the registry apart ('${printable(valuesKey)}.registry' is '${printable(current)}'), so the chart would put that host in front of it: write the host too (e.g. docker.io/${printable(repository)})`,
    );
  }
  return [
    [['registry'], ref.registry],
    [[layout.nameKey], ref.repository],
  ];
}

/** The tag the digest follows: the map's own (a previous `@digest` removed), else the default tag, checked. */
function imageTag(image: Record<string, unknown>, pin: ImagePin, subchart: SubchartValues | undefined, source: string): string {
  const existing = image.tag;
  const current = scalarText(existing).replace(/@.*$/, '');
  const fallback = subchart ? subchart.appVersion : pin.defaultTag;
  const tag = current || fallback || '';
  const tagKey = `'${printable(pin.valuesKey)}.tag'`;
  if (!tag) {
    if (subchart) {
      throw new ChartError(
        `neither ${tagKey} in ${source} nor the Chart.yaml of subchart ${describeSubchart(subchart)} (its appVersion) gives a tag for the digest to follow: set ${tagKey} to the image's tag`,
      );
    }
    throw optionError(
      'appVersion',
      `is not set, and neither Chart.yaml's appVersion nor ${tagKey} in ${source} gives a tag: set appVersion to the image's tag (the tag that goes with the digest)`,
    );
  }
  const problem = tagProblem(tag);
  if (!problem) return tag;
  const reason = `(${printable(problem)}), so the digest cannot be pinned after it`;
  if (current) throw new ChartError(`${tagKey} in ${source} is not an image tag ${reason}: set it to the image's tag`);
  if (subchart) {
    throw new ChartError(
      `the appVersion '${printable(tag)}' of subchart ${describeSubchart(subchart)} is not an image tag ${reason}: set ${tagKey} to the image's tag`,
    );
  }
  if (pin.defaultTagFromOption)
    throw optionError('appVersion', `is '${printable(tag)}', which is not an image tag ${reason}: set it to the image's tag`);
  throw new ChartError(`Chart.yaml's appVersion '${printable(tag)}' is not an image tag ${reason}: set appVersion to the image's tag`);
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
