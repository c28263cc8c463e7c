export * from './reference';
export * from './hosts';
