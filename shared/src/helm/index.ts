export { ChartError, optionError, type ChartBlame, type ChartOption } from './errors';
export {
  packageChart,
  chartArchiveFiles,
  resolveSourceDateEpoch,
  DEFAULT_IMAGE_VALUES_KEY,
  DEFAULT_SOURCE_DATE_EPOCH,
  type ChartPackage,
  type PackageChartOptions,
} from './package';
export {
  pushChart,
  buildChartArtifact,
  chartAnnotations,
  chartPushLocation,
  HELM_CHART_LAYER_MEDIA_TYPE,
  HELM_CONFIG_MEDIA_TYPE,
  OCI_MANIFEST_MEDIA_TYPE,
  type ChartArtifact,
  type ChartPushResult,
  type ChartPushTarget,
  type PushChartOptions,
  type PushableChart,
} from './push';
export { versionFromBranch, chooseChartVersion, isChartSemver, ociTag } from './version';
export { loadChartDir, loadChartArchive, type Chart } from './load';
export { pinImageInValues, checkImagePin, checkValuesKey, type ImagePin, type PinResult } from './values';
export { IgnoreRules, goPathMatch } from './ignore';
export type { ChartMetadata, ChartDependency, ChartLock } from './metadata';
export { pushChartToRegistry, resolveChartRepository, registryChartTarget, type PushChartToRegistryOptions } from './registry-target';
export { chartSummary, type ChartSummaryInput } from './summary';
