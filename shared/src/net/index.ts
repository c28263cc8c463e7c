export * from './network';
export { NetworkTimeoutError, ProxyError, describeConnectionFailure, describeNetworkError, type ConnectionFailure } from './errors';
export { proxyFor, matchesNoProxy, matchesBypassList, isAlwaysDirect, INSTANCE_METADATA_HOST } from './route';
