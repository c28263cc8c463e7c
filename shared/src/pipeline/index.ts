export { runTask, agentLog, sanitize, type TaskContext } from './run';
export { registerSecret, redact } from './secrets';
export * from './inputs';
export { defang } from './defang';
export { readRegistryConnection, registryHostFromUrl, type RegistryConnection } from './connection';
export { readAccessToken } from './vss';
export { findFiles } from './files';
