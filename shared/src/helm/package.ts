import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Log } from '../log';
import { printable } from '../reference/reference';
import type { PinnedImage } from '../release';
import { folderWriteProblem } from '../writable';
import { gzipChart, writeTar, type ArchiveFile } from './archive';
import { checkDependencies, updateLocalDependencies } from './dependencies';
import { ChartError, optionError } from './errors';
import { chartFolderProblem, loadChartDir, type Chart } from './load';
import { checkChartName, sanitize, serializeChartYaml, serializeLock, type ChartMetadata } from './metadata';
import { checkImagePin, checkValuesKey, pinImageInValues, subchartValues } from './values';
import { chooseChartVersion, ociTag, type ChartVersionChoice } from './version';

/** Plain options of `packageChart`; the task maps its inputs onto these one to one. */
export interface PackageChartOptions {
  /** The folder that holds Chart.yaml. It is only read. */
  chartPath: string;
  /** Explicit version; wins over the branch and Chart.yaml. */
  chartVersion?: string;
  /** Source branch (`refs/heads/release/delivery/1.4.0`); a release branch names the version. */
  branch?: string;
  /** Replaces Chart.yaml's appVersion. */
  appVersion?: string;
  /** With `imageDigest`: the repository to reference (`myacr.azurecr.io/delivery`). */
  imageRepository?: string;
  /** `sha256:…`: pins the image by digest in the packaged values.yaml. */
  imageDigest?: string;
  /** Dotted key path of the image map in values.yaml. Default `image`. */
  imageValuesKey?: string;
  /** Pack local `file://` dependencies into charts/ first, as `helm dependency update` would (no network). */
  updateDependencies?: boolean;
  /** Folder the package is written to (created when missing). */
  destination: string;
  /**
   * Seconds since the epoch for every file time in the archive (and a rewritten lock's `generated`). Default:
   * the `SOURCE_DATE_EPOCH` environment variable, else DEFAULT_SOURCE_DATE_EPOCH.
   */
  sourceDateEpoch?: number;
}

/** The packaged chart. */
export interface ChartPackage {
  /** `<destination>/<name>-<version>.tgz` */
  packagePath: string;
  name: string;
  version: string;
  appVersion?: string;
  /** The OCI tag the chart is pushed under (`+` → `_`). */
  tag: string;
  /** Hex sha256 of the package file. */
  sha256: string;
  /** The package file's bytes. */
  bytes: Buffer;
  /** The metadata written to the package's Chart.yaml (also the OCI config of a push). */
  metadata: ChartMetadata;
  /** The file times used, in seconds since the epoch. */
  sourceDateEpoch: number;
  versionSource: ChartVersionChoice['source'];
  /** `key.path=value` for each value pinned in values.yaml; empty when no image was pinned. */
  pinnedValues: string[];
  /** The image the packaged values pin, by the repository they name (registry included) and its digest. */
  pinnedImages: PinnedImage[];
}

/**
 * When neither the option nor SOURCE_DATE_EPOCH is set: 1980-01-01T00:00:00Z, the usual reproducible-build
 * epoch (the earliest time a ZIP can hold; tools warn about archives dated 1970).
 */
export const DEFAULT_SOURCE_DATE_EPOCH = 315532800;

export const DEFAULT_IMAGE_VALUES_KEY = 'image';

/**
 * Packages a chart folder into `<name>-<version>.tgz` as `helm package` lays it out — `<name>/Chart.yaml` first
 * (rewritten with the version and appVersion), then Chart.lock, values.yaml, values.schema.json, templates, the
 * other files and the subcharts — but byte-for-byte reproducible: fixed order, file times from SOURCE_DATE_EPOCH,
 * owner 0:0, mode 0644, helm's fixed gzip header and a deflate stream that does not depend on the Node version.
 * Nothing is written until the package is complete; the chart folder is never modified. The options, the chart
 * folder and the destination (by a write that leaves nothing) are checked before the chart is read. Every error is a
 * ChartError; one that a single option is at fault for carries `blame` (the chart's own files blame chartPath).
 */
export async function packageChart(options: PackageChartOptions, log: Log): Promise<ChartPackage> {
  const epoch = resolveSourceDateEpoch(options.sourceDateEpoch);
  checkOptions(options);
  const chartDir = path.resolve(options.chartPath);
  const what = options.chartPath;
  const destination = path.resolve(options.destination);
  checkChartPath(chartDir, options.chartPath);
  checkDestination(destination, chartDir, options.destination);

  const { chart, choice, pinned } = readingTheChart(() => {
    const chart = loadChartDir(chartDir, log, { what });
    const md = chart.metadata;
    checkChartName(md.name, what);
    if (chart.apiVersionDefaulted) {
      log.warn(`${what}: Chart.yaml has no apiVersion (a helm 2 chart); it is packaged as apiVersion v1, as helm does`);
    }
    const choice = chooseChartVersion(md.version, options, log);
    md.version = choice.version;
    if (options.appVersion?.trim()) md.appVersion = sanitize(options.appVersion.trim());
    if (options.updateDependencies) updateLocalDependencies(chart, chartDir, what, new Date(epoch * 1000), log);
    checkDependencies(chart, what);
    const pinned = options.imageDigest?.trim() ? pinImage(chart, options, what, log) : { settings: [], images: [] };
    return { chart, choice, pinned };
  });
  const md = chart.metadata;

  const files = chartArchiveFiles(chart, '');
  const bytes = gzipChart(writeTar(files, epoch));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const fileName = `${md.name}-${md.version}.tgz`;
  const packagePath = await writeAtomically(destination, fileName, bytes, options.destination);
  log.info(`packaged ${md.name} ${md.version} (version from ${choice.source}) to ${packagePath}: ${bytes.length} bytes, sha256:${sha256}`);
  return {
    packagePath,
    name: md.name,
    version: md.version,
    appVersion: md.appVersion,
    tag: ociTag(md.version),
    sha256,
    bytes,
    metadata: md,
    sourceDateEpoch: epoch,
    versionSource: choice.source,
    pinnedValues: pinned.settings,
    pinnedImages: pinned.images,
  };
}

function pinImage(chart: Chart, options: PackageChartOptions, what: string, log: Log): { settings: string[]; images: PinnedImage[] } {
  const valuesKey = options.imageValuesKey?.trim() || DEFAULT_IMAGE_VALUES_KEY;
  const subcharts = subchartValues(chart, what);
  const intoSubchart = subcharts.some((s) => s.key === valuesKey.split('.')[0]);
  // A pin for a subchart's image is written into the parent's values.yaml, which may then be made for it.
  if (!chart.values && !intoSubchart) {
    throw optionError('imageDigest', `is set, but chart '${printable(what)}' has no values.yaml to pin the image in`);
  }
  const appVersion = options.appVersion?.trim();
  const pinned = pinImageInValues(
    chart.values?.toString('utf8') ?? '',
    {
      valuesKey,
      repository: options.imageRepository?.trim() || undefined,
      digest: options.imageDigest!.trim(),
      defaultTag: chart.metadata.appVersion,
      defaultTagFromOption: appVersion ? true : undefined,
    },
    `${what}/values.yaml`,
    subcharts,
  );
  const created = !chart.values;
  chart.values = Buffer.from(pinned.text, 'utf8');
  const target = pinned.subchart ? ` for the image of ${pinned.subchart}` : '';
  log.info(`pinned the image by digest in values.yaml${created ? ' (made for it)' : ''}${target}: ${pinned.settings.join(', ')}`);
  for (const key of pinned.rewritten) log.warn(`${what}/values.yaml: '${key}' was written out as a block map to take the pinned keys`);
  return {
    settings: pinned.settings,
    images: pinned.repository ? [{ repository: pinned.repository, digest: options.imageDigest!.trim() }] : [],
  };
}

/**
 * Runs the steps that read the chart. What they find wrong with the chart's own files is the chart's fault, so it is
 * blamed on chartPath; problems that belong to another option (chartVersion, imageValuesKey, …) keep their blame.
 */
function readingTheChart<T>(steps: () => T): T {
  try {
    return steps();
  } catch (error) {
    if (error instanceof ChartError && error.blame) throw error;
    if (error instanceof ChartError) throw optionError('chartPath', `holds a chart that cannot be packaged: ${error.message}`, error);
    const code = (error as NodeJS.ErrnoException).code;
    if (code)
      throw optionError('chartPath', `holds a file that cannot be read: ${printable((error as Error).message, MAX_SHOWN_REASON)}`, error);
    throw error;
  }
}

/** How much of an operating system's reason a message quotes (a reason may repeat a very long path). */
const MAX_SHOWN_REASON = 400;

/** Input shapes are checked before the chart is read, so a bad input fails fast and alone. */
function checkOptions(options: PackageChartOptions): void {
  if (!options.chartPath?.trim()) throw optionError('chartPath', 'is required: the folder that holds Chart.yaml');
  if (!options.destination?.trim()) throw optionError('destination', 'is required: the folder to write the package to');
  const appVersion = options.appVersion?.trim();
  if (appVersion && /[\r\n]/.test(appVersion)) throw optionError('appVersion', `must be one line, got '${printable(appVersion)}'`);
  const digest = options.imageDigest?.trim();
  const repository = options.imageRepository?.trim() || undefined;
  if (repository && !digest) throw optionError('imageRepository', 'is set but imageDigest is not: set both to pin the image by digest');
  const valuesKey = options.imageValuesKey?.trim() || DEFAULT_IMAGE_VALUES_KEY;
  checkValuesKey(valuesKey);
  if (digest) checkImagePin({ valuesKey, repository, digest });
}

/** `'given'`, and what it resolved to when that differs (`'../../..' (/)`). */
function shownPath(given: string, resolved: string): string {
  return given === resolved ? `'${printable(given)}'` : `'${printable(given)}' (${printable(resolved)})`;
}

/** The chart folder exists and holds a Chart.yaml file: checked by itself, before anything else reads it. */
function checkChartPath(chartDir: string, given: string): void {
  const problem = chartFolderProblem(chartDir);
  if (problem) throw optionError('chartPath', `is ${shownPath(given, chartDir)}, which ${problem}`);
}

/**
 * The destination is outside the chart and can be written to, proven by a probe that leaves nothing behind: a
 * read-only or immutable folder, a file, or /proc fails here, before the chart is read.
 */
function checkDestination(destination: string, chartDir: string, given: string): void {
  if (isWithin(realPathOf(destination), realPathOf(chartDir))) {
    throw optionError(
      'destination',
      `is ${shownPath(given, destination)}, inside the chart folder, so the next package would contain this one: choose a folder outside the chart`,
    );
  }
  const problem = folderWriteProblem(destination);
  if (problem)
    throw optionError(
      'destination',
      `is ${shownPath(given, destination)}, where the package cannot be written: ${quotedPathsShown(problem)}`,
    );
}

/** How much of a path a reason quotes: enough to tell folders apart, not a 5,000-character line. */
const MAX_SHOWN_PATH = 120;

/** The reason with each quoted path made printable and cut, so what follows it (`too long`, `EROFS`) stays in view. */
function quotedPathsShown(reason: string): string {
  return reason.replace(/'([^']*)'/g, (_, quoted: string) => `'${printable(quoted, MAX_SHOWN_PATH)}'`);
}

function isWithin(inner: string, outer: string): boolean {
  const relative = path.relative(outer, inner);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/** The real path of `target`, as far as it exists (a link into the chart counts as inside it). */
function realPathOf(target: string): string {
  const rest: string[] = [];
  let current = target;
  for (;;) {
    try {
      return path.join(fs.realpathSync(current), ...rest);
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return target;
      rest.unshift(path.basename(current));
      current = parent;
    }
  }
}

/** The option, else SOURCE_DATE_EPOCH, else the default; a malformed value is an error naming it. */
export function resolveSourceDateEpoch(option?: number, env: NodeJS.ProcessEnv = process.env): number {
  if (option !== undefined) {
    if (!Number.isInteger(option) || option < 0) throw new ChartError(`sourceDateEpoch must be whole seconds since 1970, got ${option}`);
    return option;
  }
  const text = env.SOURCE_DATE_EPOCH?.trim();
  if (!text) return DEFAULT_SOURCE_DATE_EPOCH;
  if (!/^\d+$/.test(text)) throw new ChartError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, got '${text}'`);
  return Number(text);
}

/**
 * The archive's files in helm's order (`chartutil.writeTarContents`): Chart.yaml, Chart.lock (v2 only),
 * values.yaml, values.schema.json, templates, other files, then each subchart under charts/<its name>/.
 */
export function chartArchiveFiles(chart: Chart, prefix: string): ArchiveFile[] {
  const base = prefix ? `${prefix}/${chart.metadata.name}` : chart.metadata.name;
  const out: ArchiveFile[] = [{ name: `${base}/Chart.yaml`, data: Buffer.from(serializeChartYaml(chart.metadata)) }];
  if (chart.metadata.apiVersion === 'v2' && chart.lock)
    out.push({ name: `${base}/Chart.lock`, data: Buffer.from(serializeLock(chart.lock)) });
  if (chart.values) out.push({ name: `${base}/values.yaml`, data: chart.values });
  if (chart.schema) out.push({ name: `${base}/values.schema.json`, data: chart.schema });
  for (const f of chart.templates) out.push({ name: `${base}/${f.name}`, data: f.data });
  for (const f of chart.files) out.push({ name: `${base}/${f.name}`, data: f.data });
  for (const dep of chart.dependencies) out.push(...chartArchiveFiles(dep.chart, `${base}/charts`));
  return out;
}

/**
 * Writes beside the target and renames, so a failure never leaves a partial package under the final name. Missing
 * folders are made one at a time: Node's recursive mkdir never returns under /proc (it retries ENOENT forever).
 */
async function writeAtomically(dir: string, fileName: string, bytes: Buffer, given: string): Promise<string> {
  const target = path.join(dir, fileName);
  const temp = path.join(dir, `.${fileName}.${process.pid}.${randomBytes(4).toString('hex')}.partial`);
  try {
    makeFolders(dir);
    await fs.promises.writeFile(temp, bytes);
    await fs.promises.rename(temp, target);
  } catch (err) {
    await fs.promises.rm(temp, { force: true });
    throw optionError(
      'destination',
      `is '${printable(given)}', where the package '${fileName}' could not be written: ${printable((err as Error).message, MAX_SHOWN_REASON)}`,
      err,
    );
  }
  return target;
}

function makeFolders(dir: string): void {
  const missing: string[] = [];
  for (let current = dir; !fs.existsSync(current); current = path.dirname(current)) {
    if (path.dirname(current) === current) break;
    missing.unshift(current);
  }
  for (const folder of missing) fs.mkdirSync(folder);
}
