// The release's bill of materials: what CI pushed (images and charts, by digest) and what a promotion made of it.
export {
  emptyLock,
  LOCK_FILE_VERSION,
  mergeLock,
  OCI_SCHEME,
  outputNameOf,
  parseLock,
  readLockFile,
  recordInLockFile,
  recordPushed,
  serializeLock,
  writeLockFile,
  type LockedChart,
  type LockedImage,
  type LockEntry,
  type LockFile,
  type PinnedImage,
} from './lockfile';
