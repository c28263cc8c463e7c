export { runTask, agentLog, sanitize, type TaskContext } from './run';
export { registerSecret, redact } from './secrets';
export * from './inputs';
export { defang } from './defang';
export {
  CONNECTION_TYPES,
  SIGN_IN_INPUTS,
  inputOfLogin,
  TARGET_SIGN_IN_INPUTS,
  readRegistryConnection,
  readRegistryLogin,
  registryHostFromUrl,
  type RegistryConnection,
  type SignInInputs,
} from './connection';
export { ACR_ON_LOOPBACK_VARIABLE, IMDS_ENDPOINT_VARIABLE } from './azure';
export { readAccessToken } from './vss';
export { findFiles } from './files';
export { readArtifactName, readLockFileInputs, lockFilePath, type LockFileInputs } from './lock-file-inputs';
export type { Log } from '../log';
export { fileWriteProblem, folderWriteProblem } from '../writable';
