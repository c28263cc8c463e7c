import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Log } from '../log';
import { ChartError } from './errors';
import { loadChartDir, type Chart } from './load';
import { dependencyObject, goJson, serializeLock, type ChartDependency, type ChartLock } from './metadata';

/**
 * Every dependency the chart declares (Chart.yaml for v2, requirements.yaml for v1) must be a subchart in charts/,
 * as `helm package` checks (`action.CheckDependencies`); the message says which are missing and how to fix it.
 */
export function checkDependencies(chart: Chart, what: string): void {
  const present = new Set(chart.dependencies.map((d) => d.chart.metadata.name));
  const missing = (chart.metadata.dependencies ?? []).filter((d) => !present.has(d.name));
  if (missing.length === 0) return;
  const list = missing.map((d) => `'${d.name}'${d.repository ? ` (${d.repository})` : ''}`).join(', ');
  const declaredIn = chart.metadata.apiVersion === 'v1' ? 'requirements.yaml' : 'Chart.yaml';
  const local = missing.every((d) => d.repository.startsWith('file://'));
  throw new ChartError(
    `${what}: ${declaredIn} declares ${missing.length === 1 ? 'dependency' : 'dependencies'} ${list} but charts/ does not hold ` +
      `${missing.length === 1 ? 'it' : 'them'}; ` +
      (local
        ? 'set updateDependencies to pack file:// dependencies, or vendor them into charts/'
        : 'vendor them into charts/ before packaging'),
  );
}

/**
 * helm's constraint syntax (Masterminds/semver) in node-semver's: `,` joins constraints like a space does.
 * Both accept `v` prefixes, `>= 1.2`, `~`, `^`, `x`, `*`, `||` and hyphen ranges.
 */
export function satisfies(version: string, constraint: string): boolean {
  const range = constraint.replace(/,/g, ' ').trim();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- on first use, as in ./version.ts
  const satisfiesRange = require('semver/functions/satisfies') as typeof import('semver/functions/satisfies');
  return satisfiesRange(version, range, { loose: true });
}

function validConstraint(constraint: string): boolean {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- on first use, as in ./version.ts
  const validRange = require('semver/ranges/valid') as typeof import('semver/ranges/valid');
  return validRange(constraint.replace(/,/g, ' ').trim(), { loose: true }) !== null;
}

/**
 * What `helm dependency update` does to a chart whose dependencies are all local, without touching the chart's
 * folder and without any network:
 * - a `file://` dependency is loaded from its folder (relative to the chart, with its own .helmignore), checked
 *   against the declared version constraint and packed into charts/ (it takes the place of an older archive of it);
 * - a dependency without a repository must already sit in charts/ and satisfy its constraint;
 * - a dependency from a chart repository or an OCI registry is an error naming it (that needs the network);
 * - the lock (Chart.lock for v2, requirements.lock for v1) is rewritten when the dependencies changed, with
 *   `generated` set to `generated` (SOURCE_DATE_EPOCH), so the package stays reproducible.
 */
export function updateLocalDependencies(chart: Chart, chartDir: string, what: string, generated: Date, log: Log): void {
  const deps = chart.metadata.dependencies ?? [];
  if (deps.length === 0) {
    log.info(`${what}: no dependencies to update`);
    return;
  }
  const remote = deps.filter((d) => d.repository !== '' && !d.repository.startsWith('file://'));
  if (remote.length > 0) {
    const names = remote.map((d) => `'${d.name}' from ${d.repository}`).join(', ');
    throw new ChartError(
      `${what}: cannot update ${names}: only file:// dependencies can be packed (no network is used); ` +
        `vendor ${remote.length === 1 ? 'it' : 'them'} into charts/ and set updateDependencies to false`,
    );
  }
  const locked: ChartDependency[] = [];
  const packed: { entry: string; chart: Chart }[] = [];
  for (const dep of deps) {
    const constraint = dep.version ?? '';
    if (!validConstraint(constraint)) {
      throw new ChartError(`${what}: dependency '${dep.name}' has an invalid version constraint '${constraint}'`);
    }
    if (dep.repository === '') {
      const present = chart.dependencies.find((d) => d.chart.metadata.name === dep.name);
      if (!present) throw new ChartError(`${what}: dependency '${dep.name}' has no repository and charts/ does not hold it`);
      if (!satisfies(present.chart.metadata.version, constraint)) {
        throw new ChartError(
          `${what}: dependency '${dep.name}' in charts/ is version ${present.chart.metadata.version}, which does not satisfy '${constraint}'`,
        );
      }
      locked.push({ name: dep.name, repository: '', version: dep.version });
      continue;
    }
    const rel = dep.repository.slice('file://'.length);
    const depDir = path.isAbsolute(rel) ? rel : path.join(chartDir, rel);
    if (!fs.existsSync(depDir) || !fs.statSync(depDir).isDirectory()) {
      throw new ChartError(`${what}: dependency '${dep.name}' points at ${dep.repository}, but ${depDir} is not a folder`);
    }
    const sub = loadChartDir(depDir, log, { what: `${what} dependency '${dep.name}' (${dep.repository})` });
    if (sub.metadata.name !== dep.name) {
      throw new ChartError(`${what}: dependency '${dep.name}' (${dep.repository}) holds a chart named '${sub.metadata.name}'`);
    }
    if (!satisfies(sub.metadata.version, constraint)) {
      throw new ChartError(
        `${what}: dependency '${dep.name}' (${dep.repository}) is version ${sub.metadata.version}, which does not satisfy '${constraint}'`,
      );
    }
    packed.push({ entry: `${sub.metadata.name}-${sub.metadata.version}.tgz`, chart: sub });
    locked.push({ name: dep.name, repository: dep.repository, version: sub.metadata.version });
    log.info(`${what}: packed dependency ${sub.metadata.name} ${sub.metadata.version} from ${dep.repository}`);
  }

  // helm moves the new archives into charts/ and deletes older chart archives there, except those of dependencies
  // without a repository; unpacked chart folders stay. A folder of the same chart would then be loaded twice, so
  // the packed chart replaces it here.
  const keepArchive = new Set(deps.filter((d) => d.repository === '').map((d) => d.name));
  const packedNames = new Set(packed.map((p) => p.chart.metadata.name));
  const kept = chart.dependencies.filter((d) => {
    if (packedNames.has(d.chart.metadata.name)) {
      if (!d.entry.endsWith('.tgz')) log.warn(`${what}: charts/${d.entry} is replaced by the packed dependency '${d.chart.metadata.name}'`);
      return false;
    }
    return !d.entry.endsWith('.tgz') || keepArchive.has(d.chart.metadata.name);
  });
  chart.dependencies = [...kept, ...packed].sort((a, b) => Buffer.compare(Buffer.from(a.entry), Buffer.from(b.entry)));

  const digest = hashRequirements(deps, locked);
  if (chart.lock?.digest === digest) return;
  const lock: ChartLock = { generated: generated.toISOString().replace('.000Z', 'Z'), digest, dependencies: locked };
  chart.lock = lock;
  if (chart.metadata.apiVersion === 'v1') {
    // A v1 chart keeps requirements.lock as one of its files (helm writes it there, then packages it).
    const data = Buffer.from(serializeLock(lock));
    const at = chart.files.findIndex((f) => f.name === 'requirements.lock');
    if (at >= 0) chart.files[at] = { name: 'requirements.lock', data };
    else insertInWalkOrder(chart.files, { name: 'requirements.lock', data });
  }
}

/** helm's `resolver.HashReq`: sha256 of the JSON of [declared, locked] dependencies, as Go marshals them. */
export function hashRequirements(declared: ChartDependency[], locked: ChartDependency[]): string {
  const json = goJson([declared.map(dependencyObject), locked.map(dependencyObject)]);
  return `sha256:${createHash('sha256').update(json).digest('hex')}`;
}

/** helm's walk visits each folder's entries in byte order, depth first: compare paths segment by segment. */
function walkOrder(a: string, b: string): number {
  const sa = a.split('/');
  const sb = b.split('/');
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    const c = Buffer.compare(Buffer.from(sa[i]), Buffer.from(sb[i]));
    if (c !== 0) return c;
  }
  return sa.length - sb.length;
}

function insertInWalkOrder(files: { name: string; data: Uint8Array }[], file: { name: string; data: Uint8Array }): void {
  const at = files.findIndex((f) => walkOrder(file.name, f.name) < 0);
  if (at < 0) files.push(file);
  else files.splice(at, 0, file);
}
