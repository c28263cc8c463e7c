import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type * as tar from 'tar-stream';
import type { Log } from '../log';

/** An archive entry that would land outside the destination; extraction stops at the first. */
export class UnsafeArchiveError extends Error {
  constructor(entry: string, why: string) {
    super(`refusing archive entry '${entry}': ${why}`);
    this.name = 'UnsafeArchiveError';
  }
}

export interface ExtractOptions {
  /** A leading path component to remove from every entry name (the engine's archive of `/a/b` starts with `b/`). */
  stripRoot?: string;
}

export interface ExtractResult {
  /** Regular files written, relative to the destination, `/`-separated, in archive order. */
  files: string[];
}

function inside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/**
 * Resolves `target` from `fromDir` the way the kernel would, following symbolic links that already exist on disk
 * (a lexical `path.resolve` would accept `a/b/..` when `a/b` is a link out of the destination).
 */
async function physicalResolve(fromDir: string, target: string): Promise<string> {
  let current = path.isAbsolute(target) ? path.parse(target).root : fromDir;
  let hops = 0;
  const parts = target.split(/[\\/]+/).filter((part) => part && part !== '.');
  while (parts.length) {
    const part = parts.shift()!;
    if (part === '..') {
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, part);
    const stat = await fs.promises.lstat(next).catch(() => undefined);
    if (stat?.isSymbolicLink()) {
      if (++hops > 40) throw new Error('too many levels of symbolic links');
      const link = await fs.promises.readlink(next);
      parts.unshift(...link.split(/[\\/]+/).filter((p) => p && p !== '.'));
      current = path.isAbsolute(link) ? path.parse(link).root : current;
    } else {
      current = next;
    }
  }
  return current;
}

/**
 * Extracts a tar stream into `destination`, refusing (with {@link UnsafeArchiveError}) any entry that would escape
 * it: absolute names, `..` components, symbolic or hard links whose target resolves outside, and writes through a
 * link placed by an earlier entry. Devices and FIFOs are skipped. The destination is created if needed.
 */
export async function extractArchive(
  source: NodeJS.ReadableStream,
  destination: string,
  log: Log,
  options: ExtractOptions = {},
): Promise<ExtractResult> {
  await fs.promises.mkdir(destination, { recursive: true });
  const root = await fs.promises.realpath(destination);
  const files: string[] = [];
  const extract = (await import('tar-stream')).extract();

  const relativeName = (raw: string, isDirectory = false): string | undefined => {
    if (raw.includes('\0')) throw new UnsafeArchiveError(raw, 'the name contains a NUL byte');
    if (path.posix.isAbsolute(raw) || /^[a-zA-Z]:[\\/]/.test(raw) || raw.startsWith('\\')) {
      throw new UnsafeArchiveError(raw, 'absolute paths are not allowed');
    }
    const parts = raw.split(/[\\/]+/).filter((part) => part && part !== '.');
    if (parts.includes('..')) throw new UnsafeArchiveError(raw, "'..' is not allowed");
    if (options.stripRoot !== undefined && parts[0] === options.stripRoot) {
      // The root itself names the copied folder (skip it) or, when a single file was copied, the file.
      if (parts.length > 1 || isDirectory) parts.shift();
    }
    return parts.length ? parts.join('/') : undefined;
  };

  // Where an entry's own path lands, checked physically: its parent folder must resolve inside the root.
  const placeEntry = async (raw: string, name: string): Promise<string> => {
    const target = path.join(root, name);
    const parent = await physicalResolve(root, path.posix.dirname(name) === '.' ? '' : path.posix.dirname(name));
    if (!inside(root, parent)) throw new UnsafeArchiveError(raw, 'it would be written through a link that leaves the destination');
    await fs.promises.mkdir(parent, { recursive: true });
    const placed = path.join(parent, path.basename(target));
    const existing = await fs.promises.lstat(placed).catch(() => undefined);
    if (existing && !existing.isDirectory()) await fs.promises.unlink(placed);
    return placed;
  };

  const handle = async (header: tar.Header, stream: NodeJS.ReadableStream) => {
    const raw = header.name;
    const type = header.type ?? 'file';
    const name = relativeName(raw, type === 'directory');
    if (!name) {
      stream.resume();
      return;
    }
    switch (type) {
      case 'directory': {
        const placed = await placeEntry(raw, name);
        const existing = await fs.promises.lstat(placed).catch(() => undefined);
        if (!existing) await fs.promises.mkdir(placed, { mode: 0o755 });
        stream.resume();
        return;
      }
      case 'file':
      case 'contiguous-file': {
        const placed = await placeEntry(raw, name);
        // 'wx': never follow a link that appeared at this path since it was checked.
        await pipeline(stream, fs.createWriteStream(placed, { flags: 'wx', mode: (header.mode ?? 0o644) & 0o755 }));
        files.push(name);
        return;
      }
      case 'symlink': {
        const linkname = header.linkname ?? '';
        if (!linkname) throw new UnsafeArchiveError(raw, 'the link has no target');
        if (path.isAbsolute(linkname)) throw new UnsafeArchiveError(raw, `the link points to an absolute path '${linkname}'`);
        const placed = await placeEntry(raw, name);
        const resolved = await physicalResolve(path.dirname(placed), linkname);
        if (!inside(root, resolved)) throw new UnsafeArchiveError(raw, `the link points outside the destination ('${linkname}')`);
        await fs.promises.symlink(linkname, placed);
        stream.resume();
        return;
      }
      case 'link': {
        const linkRaw = header.linkname ?? '';
        const linkName = relativeName(linkRaw);
        if (!linkName) throw new UnsafeArchiveError(raw, 'the hard link has no target');
        const from = await physicalResolve(root, linkName);
        if (!inside(root, from)) throw new UnsafeArchiveError(raw, `the hard link points outside the destination ('${linkRaw}')`);
        const placed = await placeEntry(raw, name);
        await fs.promises.link(from, placed);
        files.push(name);
        stream.resume();
        return;
      }
      default:
        log.debug(`skipping archive entry '${raw}' of type ${type}`);
        stream.resume();
    }
  };

  await new Promise<void>((resolve, reject) => {
    let failed = false;
    extract.on('entry', (header, stream, next) => {
      handle(header, stream as unknown as NodeJS.ReadableStream).then(
        () => next(),
        (error: Error) => {
          failed = true;
          extract.destroy(error);
          reject(error);
        },
      );
    });
    extract.on('finish', () => {
      if (!failed) resolve();
    });
    extract.on('error', (error: Error) => reject(error));
    source.on('error', (error: Error) => {
      extract.destroy(error);
      reject(error);
    });
    source.pipe(extract);
  });
  return { files };
}
