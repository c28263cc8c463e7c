import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_IMAGE_VALUES_KEY, type PackageChartOptions } from '../../../shared/src/helm';
import { resolveChartRepository, type PushChartToRegistryOptions } from '../../../shared/src/helm/registry-target';
import type { Log } from '../../../shared/src/log';
import { InputError, readBool, readRegistryConnection, readString, type InputSource } from '../../../shared/src/pipeline';

export interface PackageHelmChartInputs {
  package: PackageChartOptions;
  /** Present when `push` is true. */
  push?: PushChartToRegistryOptions;
}

/**
 * A path input made absolute against the job's working directory (as the agent roots filePath inputs); a `$(…)`
 * the agent left unexpanded (the variable does not exist) is refused.
 */
function readPathInput(inputs: InputSource, name: string, base: string, fallback?: string): string | undefined {
  const value = readString(inputs, name) ?? fallback;
  if (value === undefined) return undefined;
  if (/\$\([^)]*\)/.test(value)) throw new InputError(name, `holds '${value}', a variable this job does not define: set the input to a path`);
  return path.resolve(base, value);
}

/**
 * Every input, checked before anything is read or written: a bad push setting fails before a package exists.
 * The branch comes from `Build.SourceBranch` when `versionFromBranch` is true.
 */
export function readPackageHelmChartInputs(inputs: InputSource, variables: { get(name: string): string | undefined }, log: Log): PackageHelmChartInputs {
  const base = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  let chartPath = readPathInput(inputs, 'chartPath', base);
  if (!chartPath) throw new InputError('chartPath', 'is required: the folder that holds Chart.yaml');
  if (path.basename(chartPath) === 'Chart.yaml' && fs.statSync(chartPath, { throwIfNoEntry: false })?.isFile()) chartPath = path.dirname(chartPath);
  const destination = readPathInput(inputs, 'destination', base, variables.get('Build.ArtifactStagingDirectory'));
  if (!destination) throw new InputError('destination', 'is required: the folder to write the package to');
  const options: PackageChartOptions = {
    chartPath,
    destination,
    chartVersion: readString(inputs, 'chartVersion'),
    branch: readBool(inputs, 'versionFromBranch', true) ? variables.get('Build.SourceBranch') : undefined,
    appVersion: readString(inputs, 'appVersion'),
    imageRepository: readString(inputs, 'imageRepository'),
    imageDigest: readString(inputs, 'imageDigest'),
    imageValuesKey: readString(inputs, 'imageValuesKey', DEFAULT_IMAGE_VALUES_KEY),
    updateDependencies: readBool(inputs, 'updateDependencies', false),
  };
  const chartRepository = readString(inputs, 'chartRepository');
  if (!readBool(inputs, 'push', false)) {
    if (chartRepository) log.info(`push is false: the chart is not pushed to ${chartRepository}`);
    return { package: options };
  }
  if (!chartRepository) throw new InputError('chartRepository', 'is required when push is true: host/path, e.g. myacr.azurecr.io/helm');
  const connection = readRegistryConnection(inputs, 'containerRegistry');
  const login = connection && { ...connection, label: "input 'containerRegistry'" };
  return { package: options, push: { chartRepository: resolveChartRepository(chartRepository, connection?.host), login } };
}
