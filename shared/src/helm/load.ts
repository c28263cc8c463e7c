import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Log } from '../log';
import { printable } from '../reference/reference';
import { readTarGz, type ArchiveFile } from './archive';
import { ChartError } from './errors';
import { HELMIGNORE, IgnorePatternError, IgnoreRules } from './ignore';
import { decodeLock, decodeMetadataInto, validateMetadata, type ChartLock, type ChartMetadata } from './metadata';
import { parseYaml } from './yaml';

/**
 * A loaded chart, modelled on helm's `chart.Chart`: what `helm package` writes comes from these fields alone.
 * `files` are the chart's other files (README, LICENSE, crds/, .helmignore, requirements.yaml of a v1 chart, …)
 * in the order helm's loader meets them.
 */
export interface Chart {
  metadata: ChartMetadata;
  /** Chart.lock (v2) or requirements.lock (v1), when the chart has one. */
  lock?: ChartLock;
  /** values.yaml as written (BOM removed), when the chart has one. */
  values?: Buffer;
  /** values.schema.json as written, when the chart has one. */
  schema?: Buffer;
  templates: ArchiveFile[];
  files: ArchiveFile[];
  /** Subcharts from charts/ (directories and .tgz archives), ordered by their entry name in charts/. */
  dependencies: LoadedSubchart[];
  /** True when Chart.yaml had no apiVersion and helm's rule made it v1 (a helm 2 chart). */
  apiVersionDefaulted: boolean;
}

export interface LoadedSubchart {
  /** The entry in charts/ it came from (`common`, `redis-17.3.1.tgz`), which orders subcharts. */
  entry: string;
  chart: Chart;
}

/** helm's per-file limit when loading a chart directory (`loader.MaxDecompressedFileSize`). */
export const MAX_FILE_SIZE = 5 * 1024 * 1024;

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

function stripBom(data: Buffer): Buffer {
  return data.subarray(0, 3).equals(UTF8_BOM) ? data.subarray(3) : data;
}

/** Go sorts names as byte strings; so do we, so the walk order (and the archive) is the same on every machine. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Loads a chart directory as `helm package` does (helm v3.17 `loader.LoadDir`): `.helmignore` and helm's default
 * rule applied to paths from the chart root, files read in helm's walk order, a UTF-8 BOM removed.
 * Unlike helm, anything that is not a regular file or a directory is refused, and so is a symbolic link whose
 * target lies outside the chart (helm follows it and packs whatever it finds); links inside the chart are followed.
 */
export function loadChartDir(dir: string, log: Log, options: { what?: string } = {}): Chart {
  const what = options.what ?? dir;
  const problem = chartFolderProblem(dir);
  if (problem) throw new ChartError(`chart path '${printable(dir)}' ${problem}`);
  const root = fs.realpathSync(dir);
  const rules = readIgnoreRules(root, what);
  const files = walkChart(root, rules, what);
  if (!files.some((f) => f.name === 'Chart.yaml')) {
    throw new ChartError(`${what}: .helmignore leaves out Chart.yaml (helm reads a '!pattern' rule as "ignore everything else")`);
  }
  return loadFiles(files, what, log);
}

/** Node's error codes for a path that cannot be looked at, as the end of a sentence about it. */
const PATH_PROBLEMS: Record<string, string> = {
  ENOENT: 'does not exist',
  ELOOP: 'runs through a loop of symbolic links (ELOOP)',
  ENAMETOOLONG: 'is too long for a path (ENAMETOOLONG)',
  ENOTDIR: 'passes through a file as if it were a folder (ENOTDIR)',
  EACCES: 'cannot be read: permission denied (EACCES)',
};

function pathProblem(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return PATH_PROBLEMS[code] ?? `cannot be read: ${(error as Error).message}`;
}

/**
 * Why `dir` is not a chart folder, as the end of a sentence about it (`does not exist`, `holds no Chart.yaml: …`),
 * or undefined when it is a folder that holds a Chart.yaml file. Only looks: nothing is read or written.
 */
export function chartFolderProblem(dir: string): string | undefined {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch (error) {
    return pathProblem(error);
  }
  if (!stat.isDirectory()) return 'is a file, not a folder: name the folder that holds Chart.yaml';
  const chartYaml = path.join(dir, 'Chart.yaml');
  let file: fs.Stats;
  try {
    file = fs.statSync(chartYaml);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !fs.lstatSync(chartYaml, { throwIfNoEntry: false })) {
      return 'holds no Chart.yaml: name the folder that holds Chart.yaml';
    }
    return `holds a Chart.yaml that ${code === 'ENOENT' ? 'is a broken symbolic link' : pathProblem(error)}`;
  }
  if (file.isDirectory()) return 'holds a Chart.yaml that is a folder, not a file';
  if (!file.isFile()) return 'holds a Chart.yaml that is not a regular file';
  return undefined;
}

function readIgnoreRules(root: string, what: string): IgnoreRules {
  const file = path.join(root, HELMIGNORE);
  if (!fs.existsSync(file)) return IgnoreRules.parse('');
  try {
    return IgnoreRules.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof IgnorePatternError) throw new ChartError(`${what}: .helmignore: ${err.message}`);
    throw err;
  }
}

function walkChart(root: string, rules: IgnoreRules, what: string): ArchiveFile[] {
  const files: ArchiveFile[] = [];
  const insideRoot = (real: string) => real === root || real.startsWith(root + path.sep);

  const visit = (dirPath: string, rel: string, realStack: string[]): void => {
    const names = fs.readdirSync(dirPath).sort(byteOrder);
    for (const name of names) {
      const abs = path.join(dirPath, name);
      const relName = rel ? `${rel}/${name}` : name;
      let st = fs.lstatSync(abs);
      let real: string;
      if (st.isSymbolicLink()) {
        try {
          real = fs.realpathSync(abs);
          st = fs.statSync(real);
        } catch (error) {
          const loop = (error as NodeJS.ErrnoException).code === 'ELOOP';
          throw new ChartError(`${what}: ${relName} is ${loop ? 'a symbolic link in a loop of links' : 'a broken symbolic link'}`);
        }
        if (rules.ignores(relName, st.isDirectory())) continue;
        if (!insideRoot(real)) {
          throw new ChartError(
            `${what}: ${relName} is a symbolic link to ${real}, outside the chart; copy the file into the chart instead`,
          );
        }
      } else {
        real = path.join(realStack[realStack.length - 1], name);
      }
      if (st.isDirectory()) {
        if (rules.ignores(relName, true)) continue;
        if (realStack.includes(real)) throw new ChartError(`${what}: ${relName} is a symbolic link that loops back to its own folder`);
        visit(abs, relName, [...realStack, real]);
        continue;
      }
      if (rules.ignores(relName, false)) continue;
      if (!st.isFile()) {
        throw new ChartError(`${what}: ${relName} is not a regular file (${fileKind(st)}); remove it or list it in .helmignore`);
      }
      if (st.size > MAX_FILE_SIZE) {
        throw new ChartError(`${what}: ${relName} is larger than helm's ${MAX_FILE_SIZE}-byte limit for a chart file`);
      }
      files.push({ name: relName, data: stripBom(fs.readFileSync(abs)) });
    }
  };
  visit(root, '', [root]);
  return files;
}

function fileKind(st: fs.Stats): string {
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a file';
}

/** Loads a packaged chart (.tgz) as helm's `loader.LoadArchive` does; links and unsafe paths are refused. */
export function loadChartArchive(bytes: Uint8Array, what: string, log: Log): Chart {
  const files: ArchiveFile[] = [];
  for (const entry of readTarGz(bytes, what)) {
    if (entry.type === 'dir') continue;
    const parts = entry.name.replace(/\\/g, '/').split('/');
    if (parts[0] === 'Chart.yaml') throw new ChartError(`${what}: Chart.yaml is not inside the chart's top folder`);
    const rel = path.posix.normalize(parts.slice(1).join('/'));
    if (path.posix.isAbsolute(rel) || /^[a-zA-Z]:\//.test(rel))
      throw new ChartError(`${what}: the archive holds an absolute path: ${entry.name}`);
    if (rel === '.' || rel === '' || rel.startsWith('..'))
      throw new ChartError(`${what}: the archive holds a path outside the chart: ${entry.name}`);
    if (entry.type !== 'file') {
      throw new ChartError(
        `${what}: ${entry.name} is a ${entry.type === 'other' ? 'special file' : entry.type}, which a chart must not hold`,
      );
    }
    files.push({ name: rel, data: stripBom(entry.data) });
  }
  if (files.length === 0) throw new ChartError(`${what}: the archive holds no files`);
  return loadFiles(files, what, log);
}

/** helm's `loader.LoadFiles`: sorts files into the chart's parts and loads charts/ entries as subcharts. */
export function loadFiles(files: ArchiveFile[], what: string, log: Log): Chart {
  const metadata: Partial<ChartMetadata> = {};
  let sawChartYaml = false;
  for (const f of files) {
    if (f.name !== 'Chart.yaml') continue;
    sawChartYaml = true;
    decodeMetadataInto(metadata, parseYaml(Buffer.from(f.data).toString('utf8'), `${what}/Chart.yaml`), `${what}/Chart.yaml`);
  }
  if (!sawChartYaml) throw new ChartError(`${what}: Chart.yaml is missing`);
  let apiVersionDefaulted = false;
  if (!metadata.apiVersion) {
    metadata.apiVersion = 'v1';
    apiVersionDefaulted = true;
  }
  const md = metadata as ChartMetadata;
  md.name ??= '';
  md.version ??= '';
  const chart: Chart = { metadata: md, templates: [], files: [], dependencies: [], apiVersionDefaulted };
  const subcharts = new Map<string, ArchiveFile[]>();
  for (const f of files) {
    const text = () => Buffer.from(f.data).toString('utf8');
    switch (true) {
      case f.name === 'Chart.yaml':
        break;
      case f.name === 'Chart.lock':
        chart.lock = decodeLock(parseYaml(text(), `${what}/Chart.lock`), `${what}/Chart.lock`);
        break;
      case f.name === 'values.yaml':
        parseYaml(text(), `${what}/values.yaml`, '1.1');
        chart.values = Buffer.from(f.data);
        break;
      case f.name === 'values.schema.json':
        chart.schema = Buffer.from(f.data);
        break;
      case f.name === 'requirements.yaml':
        if (md.apiVersion !== 'v1') {
          log.warn(`${what}: requirements.yaml is read for a v2 chart; since apiVersion v2 dependencies belong in Chart.yaml`);
        }
        decodeRequirementsInto(md, parseYaml(text(), `${what}/requirements.yaml`), `${what}/requirements.yaml`);
        if (md.apiVersion === 'v1') chart.files.push(f);
        break;
      case f.name === 'requirements.lock':
        chart.lock = decodeLock(parseYaml(text(), `${what}/requirements.lock`), `${what}/requirements.lock`);
        if (md.apiVersion === 'v1') chart.files.push(f);
        break;
      case f.name.startsWith('templates/'):
        chart.templates.push(f);
        break;
      case f.name.startsWith('charts/'): {
        if (path.posix.extname(f.name) === '.prov') {
          chart.files.push(f);
          break;
        }
        const rest = f.name.slice('charts/'.length);
        const entry = rest.split('/')[0];
        const list = subcharts.get(entry) ?? [];
        list.push({ name: rest, data: f.data });
        subcharts.set(entry, list);
        break;
      }
      default:
        chart.files.push(f);
    }
  }
  validateMetadata(md, what);
  if (chart.schema && !isJson(chart.schema)) throw new ChartError(`${what}/values.schema.json is not valid JSON`);

  for (const entry of [...subcharts.keys()].sort(byteOrder)) {
    if (entry.startsWith('_') || entry.startsWith('.')) continue;
    const entryFiles = subcharts.get(entry) ?? [];
    const subWhat = `${what}/charts/${entry}`;
    let sub: Chart;
    if (path.posix.extname(entry) === '.tgz') {
      const archive = entryFiles[0];
      if (archive.name !== entry) throw new ChartError(`${subWhat} is a folder named like an archive`);
      sub = loadChartArchive(archive.data, subWhat, log);
    } else {
      const inner = entryFiles.filter((f) => f.name.includes('/')).map((f) => ({ name: f.name.slice(entry.length + 1), data: f.data }));
      if (inner.length === 0) {
        throw new ChartError(`${subWhat} is not a chart: charts/ may only hold chart folders and .tgz chart archives`);
      }
      sub = loadFiles(inner, subWhat, log);
    }
    chart.dependencies.push({ entry, chart: sub });
  }
  return chart;
}

/** requirements.yaml holds `dependencies:`; helm unmarshals it over the metadata, so only that field changes. */
function decodeRequirementsInto(md: ChartMetadata, doc: unknown, file: string): void {
  if (doc === null || doc === undefined) return;
  const partial: Partial<ChartMetadata> = {};
  decodeMetadataInto(partial, doc, file);
  Object.assign(md, partial);
}

function isJson(data: Buffer): boolean {
  try {
    JSON.parse(data.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
