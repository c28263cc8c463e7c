// The registry layer: transport (auth, retry, typed errors) → operations (manifest, blob, copy, referrers) → verbs
// (promoteImage, promoteRelease, resolveDigest). See the modules for details.
export {
  basicAuthorization,
  normalizeScopes,
  parseChallenges,
  repositoryScope,
  requestToken,
  scopesCover,
  type Challenge,
  ACR_REFRESH_TOKEN_USER,
  describeCredentials,
  isAcrRefreshToken,
  type EntraCredentials,
  type EntraTokenRequest,
  type EntraTokenSource,
  type IssuedToken,
  type PasswordCredentials,
  type RegistryCredentials,
} from './auth';
export { RegistryClients, loginFor, passwordLogin, type PasswordLogin, type RegistryLogin, type TransportOptions } from './clients';
export { assertAcrHost, exchangeForRefreshToken, type ExchangeRequest } from './acr';
export { RegistryError, parseErrorBody, redactUrl, isTemporaryStatus, codeForStatus, type RegistryErrorDetail } from './errors';
export {
  DEFAULT_ATTEMPTS,
  isNetworkError,
  isRetryable,
  parseRetryAfter,
  retryDelayMs,
  retryOptions,
  withRetry,
  type RetryOptions,
} from './retry';
export {
  RegistryClient,
  type RegistryClientOptions,
  type RegistryRequest,
  type RegistryResponse,
  type RegistryStreamResponse,
  type TransportStats,
} from './transport';
export {
  MANIFEST_ACCEPT,
  MEDIA_TYPES,
  getManifest,
  headManifest,
  isIndexMediaType,
  manifestMediaType,
  parseManifestContent,
  putManifest,
  readTagListing,
  reportedDigest,
  storeManifest,
  type Descriptor,
  type Manifest,
  type ManifestContent,
  type ManifestHead,
  type StoredManifest,
  type TagListing,
} from './manifest';
export {
  blobExists,
  cancelUpload,
  completeUpload,
  copyBlob,
  getBlobStream,
  mountBlob,
  pushBlob,
  startUpload,
  type CopyOutcome,
  type MountResult,
  type RepositoryOn,
} from './blob';
export { ManifestCopier, type CopyCounts, type CopyRoute } from './copy';
export {
  COSIGN_TAG_SUFFIXES,
  cosignTag,
  listReferrers,
  referrerDescriptor,
  referrersTag,
  ReferrerFinder,
  ReferrersApiSupport,
  holdsEveryLayerOf,
  type Attached,
  type AttachedVia,
  type ReferrersAnswer,
} from './referrers';
export {
  DEFAULT_BLOB_CONCURRENCY,
  DEFAULT_TARGET_NAMESPACE,
  OptionError,
  PromoteRefusedError,
  planPromotion,
  promoteImage,
  type PromoteImageOptions,
  type PromoteImageResult,
  type PromotionOutcome,
  type PromotionTraffic,
  type TagConflict,
} from './promote';
export {
  DEFAULT_ENTRY_CONCURRENCY,
  promoteRelease,
  type PromotedEntry,
  type PromoteReleaseOptions,
  type PromoteReleaseResult,
} from './release';
export { resolveDigest } from './resolve';
export { imagePromotionSummary, releasePromotionSummary } from './summary';
