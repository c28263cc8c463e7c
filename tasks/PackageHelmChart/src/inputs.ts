import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ChartError,
  DEFAULT_IMAGE_VALUES_KEY,
  type ChartOption,
  type PackageChartOptions,
  resolveChartRepository,
  type PushChartToRegistryOptions,
} from '../../../shared/src/helm';
import {
  type Log,
  InputError,
  inputOfLogin,
  lockFilePath,
  readBool,
  readLockFileInputs,
  readRegistryLogin,
  readString,
  type InputSource,
  readPath,
} from '../../../shared/src/pipeline';

export interface PackageHelmChartInputs {
  package: PackageChartOptions;
  /** Present when `push` is true; the pushed chart is recorded in `lockFile`. */
  push?: PushChartToRegistryOptions & { lockFile: string };
  /** The input the push's login came from (`containerRegistry`, or `azureSubscriptionEndpoint`). */
  loginInput?: string;
  /** The build artifact the lock file is published as after the record; undefined when not published. */
  artifactName?: string;
}

/** The core's options are this task's inputs by the same names, but for these two. */
const INPUT_OF: Partial<Record<ChartOption, { input: string; lead: string }>> = {
  branch: { input: 'versionFromBranch', lead: 'is true, and the source branch (Build.SourceBranch) ' },
  login: { input: 'containerRegistry', lead: '' },
};

/**
 * A core error blaming one option, as the input that sets it: `input 'chartVersion' is not a SemVer 2 version: …`.
 * `done` says what the task did before it failed; other errors keep their words.
 */
export function namingInput(error: unknown, done?: string, loginInput?: string): Error {
  const after = done ? `; ${done}` : '';
  if (error instanceof ChartError && error.blame) {
    const { option, problem } = error.blame;
    const mapped = (option === 'login' && loginInput ? { input: loginInput, lead: '' } : INPUT_OF[option]) ?? { input: option, lead: '' };
    return new InputError(mapped.input, `${mapped.lead}${problem}${after}`);
  }
  if (!after) return error instanceof Error ? error : new Error(String(error));
  return new Error(`${error instanceof Error ? error.message : String(error)}${after}`, { cause: error });
}

/**
 * Every input, checked before anything is read or written: a bad push setting (the lock file included: it is proven
 * writable and mergeable) fails before a package exists. The branch comes from `Build.SourceBranch` when
 * `versionFromBranch` is true.
 */
export function readPackageHelmChartInputs(
  inputs: InputSource,
  variables: { get(name: string): string | undefined },
  log: Log,
): PackageHelmChartInputs {
  const base = variables.get('System.DefaultWorkingDirectory') || process.cwd();
  let chartPath = readPath(inputs, 'chartPath', undefined, base);
  if (!chartPath) throw new InputError('chartPath', 'is required: the folder that holds Chart.yaml');
  if (path.basename(chartPath) === 'Chart.yaml' && fs.statSync(chartPath, { throwIfNoEntry: false })?.isFile())
    chartPath = path.dirname(chartPath);
  const destination = readPath(inputs, 'destination', variables.get('Build.ArtifactStagingDirectory'), base);
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
    const lockFile = lockFilePath(inputs, variables);
    if (!lockFile.isDefault) log.info(`push is false: nothing is recorded in lockFile '${lockFile.resolved}'`);
    return { package: options };
  }
  if (!chartRepository) throw new InputError('chartRepository', 'is required when push is true: host/path, e.g. myacr.azurecr.io/helm');
  // A Docker Registry connection, or an AzureRM connection with its registry; its label names the input.
  const login = readRegistryLogin(inputs);
  let resolved: string;
  try {
    resolved = resolveChartRepository(chartRepository, login?.host);
  } catch (error) {
    throw namingInput(error);
  }
  const { lockFile, artifactName } = readLockFileInputs(inputs, variables);
  const record = { buildId: variables.get('Build.BuildId'), sourceVersion: variables.get('Build.SourceVersion') };
  return {
    package: options,
    push: { chartRepository: resolved, login, lockFile, record },
    loginInput: login && inputOfLogin(login),
    artifactName,
  };
}
