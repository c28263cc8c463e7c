import { ChartError } from './errors';
import { isHelmVersion } from './version';
import { dumpYaml } from './yaml';

/**
 * Chart.yaml as helm models it (helm v3.17 `pkg/chart/metadata.go`): only these fields survive packaging, in this
 * order when serialised to JSON (the OCI config blob). Unknown fields are dropped, as helm drops them.
 */
export interface ChartMetadata {
  name: string;
  home?: string;
  sources?: string[];
  version: string;
  description?: string;
  keywords?: string[];
  maintainers?: ChartMaintainer[];
  icon?: string;
  apiVersion: string;
  condition?: string;
  tags?: string;
  appVersion?: string;
  deprecated?: boolean;
  annotations?: Record<string, string>;
  kubeVersion?: string;
  dependencies?: ChartDependency[];
  type?: string;
}

export interface ChartMaintainer {
  name?: string;
  email?: string;
  url?: string;
}

/** A dependency as Chart.yaml (v2) or requirements.yaml (v1) declares it, or as a lock file records it. */
export interface ChartDependency {
  name: string;
  version?: string;
  repository: string;
  condition?: string;
  tags?: string[];
  enabled?: boolean;
  'import-values'?: unknown[];
  alias?: string;
}

/** Chart.lock (v2) / requirements.lock (v1). `generated` is kept as the RFC 3339 text helm writes. */
export interface ChartLock {
  generated: string;
  digest: string;
  dependencies: ChartDependency[];
}

type FieldKind = 'string' | 'strings' | 'bool' | 'maintainers' | 'annotations' | 'dependencies';

const METADATA_FIELDS: [keyof ChartMetadata, FieldKind][] = [
  ['name', 'string'],
  ['home', 'string'],
  ['sources', 'strings'],
  ['version', 'string'],
  ['description', 'string'],
  ['keywords', 'strings'],
  ['maintainers', 'maintainers'],
  ['icon', 'string'],
  ['apiVersion', 'string'],
  ['condition', 'string'],
  ['tags', 'string'],
  ['appVersion', 'string'],
  ['deprecated', 'bool'],
  ['annotations', 'annotations'],
  ['kubeVersion', 'string'],
  ['dependencies', 'dependencies'],
  ['type', 'string'],
];

const DEPENDENCY_FIELDS: [keyof ChartDependency, FieldKind | 'any[]'][] = [
  ['name', 'string'],
  ['version', 'string'],
  ['repository', 'string'],
  ['condition', 'string'],
  ['tags', 'strings'],
  ['enabled', 'bool'],
  ['import-values', 'any[]'],
  ['alias', 'string'],
];

const MAINTAINER_FIELDS: (keyof ChartMaintainer)[] = ['name', 'email', 'url'];

/**
 * Reads a YAML document into `target` the way helm's `yaml.Unmarshal` (YAML → JSON → Go struct) does: keys match
 * case-insensitively, the last one wins, scalars are turned into the strings string fields want (`1.10` → "1.1",
 * as Go prints the float), and a value of the wrong shape is an error.
 */
export function decodeMetadataInto(target: Partial<ChartMetadata>, doc: unknown, file: string): void {
  if (doc === null || doc === undefined) return;
  if (!isMap(doc)) throw new ChartError(`${file} must be a YAML map of chart fields`);
  for (const [key, value] of Object.entries(doc)) {
    const field = lookupField(METADATA_FIELDS, key);
    if (!field) continue;
    const [name, kind] = field;
    const decoded = decodeField(value, kind, `${file}: ${name}`);
    if (decoded === undefined) delete target[name];
    else (target as Record<string, unknown>)[name] = decoded;
  }
}

/** Reads Chart.lock / requirements.lock. */
export function decodeLock(doc: unknown, file: string): ChartLock {
  if (!isMap(doc)) throw new ChartError(`${file} must be a YAML map with generated, digest and dependencies`);
  const lock: ChartLock = { generated: '0001-01-01T00:00:00Z', digest: '', dependencies: [] };
  for (const [key, value] of Object.entries(doc)) {
    switch (key.toLowerCase()) {
      case 'generated':
        if (value === null) break;
        if (typeof value !== 'string' || Number.isNaN(Date.parse(value))) {
          throw new ChartError(
            `${file}: generated must be an RFC 3339 time, got '${typeof value === 'string' ? value : JSON.stringify(value)}'`,
          );
        }
        lock.generated = value;
        break;
      case 'digest':
        lock.digest = decodeString(value, `${file}: digest`) ?? '';
        break;
      case 'dependencies':
        lock.dependencies = decodeDependencies(value, `${file}: dependencies`) ?? [];
        break;
    }
  }
  return lock;
}

function lookupField<T extends string, K>(fields: [T, K][], key: string): [T, K] | undefined {
  return fields.find(([name]) => name === key) ?? fields.find(([name]) => name.toLowerCase() === key.toLowerCase());
}

function decodeField(value: unknown, kind: FieldKind | 'any[]', where: string): unknown {
  switch (kind) {
    case 'string':
      return decodeString(value, where);
    case 'strings':
      return decodeStrings(value, where);
    case 'bool':
      if (value === null) return undefined;
      if (typeof value !== 'boolean')
        throw new ChartError(`${where} must be true or false, got '${typeof value === 'string' ? value : JSON.stringify(value)}'`);
      return value;
    case 'maintainers':
      return decodeMaintainers(value, where);
    case 'annotations':
      return decodeAnnotations(value, where);
    case 'dependencies':
      return decodeDependencies(value, where);
    case 'any[]':
      if (value === null) return undefined;
      if (!Array.isArray(value)) throw new ChartError(`${where} must be a list`);
      return value;
  }
}

function decodeString(value: unknown, where: string): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : value > 0 ? '+Inf' : value < 0 ? '-Inf' : 'NaN';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  throw new ChartError(`${where} must be a string, got a ${Array.isArray(value) ? 'list' : 'map'}`);
}

function decodeStrings(value: unknown, where: string): string[] | undefined {
  if (value === null || value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ChartError(`${where} must be a list of strings`);
  return value.map((item, i) => decodeString(item, `${where}[${i}]`) ?? '');
}

function decodeMaintainers(value: unknown, where: string): ChartMaintainer[] | undefined {
  if (value === null || value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ChartError(`${where} must be a list`);
  return value.map((item, i) => {
    if (item === null) throw new ChartError(`${where} must not contain empty or null entries`);
    if (!isMap(item)) throw new ChartError(`${where}[${i}] must be a map with name, email, url`);
    const m: ChartMaintainer = {};
    for (const [key, v] of Object.entries(item)) {
      const field = MAINTAINER_FIELDS.find((f) => f === key) ?? MAINTAINER_FIELDS.find((f) => f.toLowerCase() === key.toLowerCase());
      if (!field) continue;
      const s = decodeString(v, `${where}[${i}].${field}`);
      if (s === undefined) delete m[field];
      else m[field] = s;
    }
    return m;
  });
}

function decodeAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === null || value === undefined) return undefined;
  if (!isMap(value)) throw new ChartError(`${where} must be a map of strings`);
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(value)) out[key] = decodeString(v, `${where}.${key}`) ?? '';
  return out;
}

function decodeDependencies(value: unknown, where: string): ChartDependency[] | undefined {
  if (value === null || value === undefined) return undefined;
  if (!Array.isArray(value)) throw new ChartError(`${where} must be a list`);
  return value.map((item, i) => {
    if (item === null) throw new ChartError(`${where} must not contain empty or null entries`);
    if (!isMap(item)) throw new ChartError(`${where}[${i}] must be a map`);
    const dep: Record<string, unknown> = { name: '', repository: '' };
    for (const [key, v] of Object.entries(item)) {
      const field = lookupField(DEPENDENCY_FIELDS, key);
      if (!field) continue;
      const [name, kind] = field;
      const decoded = decodeField(v, kind, `${where}[${i}].${name}`);
      if (decoded === undefined) {
        if (name === 'name' || name === 'repository') dep[name] = '';
        else delete dep[name];
      } else dep[name] = decoded;
    }
    return dep as unknown as ChartDependency;
  });
}

export function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const ALIAS_NAME = /^[a-zA-Z0-9_-]+$/;

/**
 * helm's `Metadata.Validate`: sanitises the string fields (whitespace → space, non-printable characters dropped)
 * and applies helm's own rules. Messages name `where` (the chart's path) and the field.
 */
export function validateMetadata(md: ChartMetadata, where: string): void {
  for (const field of ['name', 'description', 'home', 'icon', 'condition', 'tags', 'appVersion', 'kubeVersion'] as const) {
    const value = md[field];
    if (value !== undefined) md[field] = sanitize(value);
  }
  if (md.sources) md.sources = md.sources.map(sanitize);
  if (md.keywords) md.keywords = md.keywords.map(sanitize);
  if (!md.apiVersion) throw new ChartError(`${where}: Chart.yaml: apiVersion is required`);
  if (md.apiVersion !== 'v1' && md.apiVersion !== 'v2') {
    throw new ChartError(`${where}: Chart.yaml: apiVersion '${md.apiVersion}' is not v1 or v2`);
  }
  if (!md.name) throw new ChartError(`${where}: Chart.yaml: name is required`);
  if (md.name === '.' || md.name === '..' || md.name.includes('/') || md.name.includes('\\')) {
    throw new ChartError(`${where}: Chart.yaml: name '${md.name}' is invalid (it must not be a path)`);
  }
  if (!md.version) throw new ChartError(`${where}: Chart.yaml: version is required`);
  if (!isHelmVersion(md.version)) {
    throw new ChartError(`${where}: Chart.yaml: version '${md.version}' is not a SemVer version (e.g. 1.4.0)`);
  }
  if (md.type !== undefined && md.type !== '' && md.type !== 'application' && md.type !== 'library') {
    throw new ChartError(`${where}: Chart.yaml: type must be application or library, got '${md.type}'`);
  }
  for (const m of md.maintainers ?? []) {
    for (const f of MAINTAINER_FIELDS) {
      const value = m[f];
      if (value !== undefined) m[f] = sanitize(value);
    }
  }
  const seen = new Set<string>();
  for (const dep of md.dependencies ?? []) {
    dep.name = sanitize(dep.name);
    if (dep.version !== undefined) dep.version = sanitize(dep.version);
    dep.repository = sanitize(dep.repository);
    if (dep.condition !== undefined) dep.condition = sanitize(dep.condition);
    if (dep.tags) dep.tags = dep.tags.map(sanitize);
    if (dep.alias && !ALIAS_NAME.test(dep.alias)) {
      throw new ChartError(`${where}: dependency '${dep.name}' has disallowed characters in its alias '${dep.alias}'`);
    }
    const key = dep.alias || dep.name;
    if (seen.has(key)) throw new ChartError(`${where}: more than one dependency with name or alias '${key}'`);
    seen.add(key);
  }
}

/** OCI repository path component (distribution's reference grammar): what a chart name must be to be pushed. */
const CHART_NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

/**
 * Our rule for the chart we package (stricter than helm's loader, which only refuses paths): helm's naming
 * convention — lower case letters and digits, words separated by `-` (also `.` or `_`) — which is also what an
 * OCI repository accepts, so the chart can be pushed as `oci://host/path/<name>`.
 */
export function checkChartName(name: string, where: string): void {
  if (!CHART_NAME.test(name)) {
    throw new ChartError(
      `${where}: Chart.yaml: name '${name}' is not a valid chart name: use lower case letters and digits, ` +
        `words separated by '-' (e.g. 'my-service'), as helm's naming convention and OCI repositories require`,
    );
  }
}

/** Go's `unicode.IsSpace` and `unicode.IsPrint`, as `sanitizeString` uses them. */
const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const GO_PRINT = /[\p{L}\p{M}\p{N}\p{P}\p{S} ]/u;

export function sanitize(text: string): string {
  let out = '';
  for (const ch of text) {
    if (GO_SPACE.test(ch)) out += ' ';
    else if (GO_PRINT.test(ch)) out += ch;
  }
  return out;
}

/** The metadata with helm's JSON field order and `omitempty` applied: what Chart.yaml and the OCI config carry. */
export function metadataObject(md: ChartMetadata): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, kind] of METADATA_FIELDS) {
    const value = md[name];
    if (isEmpty(value)) continue;
    if (kind === 'maintainers') out[name] = (value as ChartMaintainer[]).map(maintainerObject);
    else if (kind === 'dependencies') out[name] = (value as ChartDependency[]).map(dependencyObject);
    else if (kind === 'annotations') out[name] = sortedObject(value as Record<string, string>);
    else out[name] = value;
  }
  return out;
}

function maintainerObject(m: ChartMaintainer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of MAINTAINER_FIELDS) if (!isEmpty(m[f])) out[f] = m[f];
  return out;
}

/** A dependency with helm's field order; `name` and `repository` are never omitted. */
export function dependencyObject(dep: ChartDependency): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name] of DEPENDENCY_FIELDS) {
    const value = dep[name];
    if (name === 'name' || name === 'repository') out[name] = value ?? '';
    else if (!isEmpty(value)) out[name] = name === 'import-values' ? (value as unknown[]).map(sortedDeep) : value;
  }
  return out;
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (isMap(value)) return Object.keys(value).length === 0;
  return false;
}

function sortedObject<T>(o: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(o).sort()) out[key] = o[key];
  return out;
}

function sortedDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedDeep);
  if (isMap(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortedDeep(value[key]);
    return out;
  }
  return value;
}

/** JSON as Go's `encoding/json` writes it: no spaces, `<`, `>`, `&`, U+2028 and U+2029 escaped. */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Chart.yaml as helm rewrites it when packaging (keys sorted, known fields only; a v1 chart's dependencies live in
 * requirements.yaml, so they are left out here as helm leaves them out).
 */
export function serializeChartYaml(md: ChartMetadata): string {
  const obj = metadataObject(md);
  if (md.apiVersion === 'v1') delete obj.dependencies;
  return dumpYaml(obj);
}

export function serializeLock(lock: ChartLock): string {
  return dumpYaml({ dependencies: lock.dependencies.map(dependencyObject), digest: lock.digest, generated: lock.generated });
}
