import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type * as tar from 'tar-stream';
import { Dockerignore } from './dockerignore';

/** A build context ready to send: the tar stream and where the Dockerfile sits inside it. */
export interface PackedContext {
  /** A streamx readable (tar-stream 3): pipe it, do not treat it as a Node stream in every respect. */
  stream: tar.Pack;
  /** The Dockerfile's path inside the tar, as the engine's `dockerfile` parameter wants it. */
  dockerfile: string;
  /** How many files, links and folders the tar holds (after `.dockerignore`). */
  entries: number;
}

interface ContextEntry {
  name: string;
  absolute: string;
  stat: fs.Stats;
}

/**
 * The rules of `<context>/.dockerignore` (none when there is no such file), each checked as Docker checks it: a line
 * Docker would refuse throws `DockerignoreError` naming the file, the line and the pattern.
 */
export function readDockerignore(contextDir: string): Dockerignore {
  const file = path.join(contextDir, '.dockerignore');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Dockerignore.parse('', file);
    throw error;
  }
  return Dockerignore.parse(text, file);
}

/**
 * The paths (relative, `/`-separated) of `contextDir` that go into the build context: everything `.dockerignore`
 * does not exclude, plus the Dockerfile and `.dockerignore` themselves, which the docker CLI always sends.
 */
export async function listContext(contextDir: string, keep: readonly string[] = []): Promise<ContextEntry[]> {
  const ignore = readDockerignore(contextDir);
  // Without `!` exceptions an excluded folder can be skipped whole; with them a file below it may come back.
  const hasExceptions = ignore.hasExceptions;
  const always = new Set(['.dockerignore', ...keep]);
  const entries: ContextEntry[] = [];
  const walk = async (relDir: string) => {
    const dirents = await fs.promises.readdir(path.join(contextDir, relDir), { withFileTypes: true });
    dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const dirent of dirents) {
      const name = relDir ? `${relDir}/${dirent.name}` : dirent.name;
      const absolute = path.join(contextDir, name);
      const ignored = ignore.excludes(name) && !always.has(name);
      const stat = await fs.promises.lstat(absolute);
      if (stat.isDirectory()) {
        if (!ignored) entries.push({ name, absolute, stat });
        if (!ignored || hasExceptions || [...always].some((keepName) => keepName.startsWith(`${name}/`))) await walk(name);
      } else if (!ignored && (stat.isFile() || stat.isSymbolicLink())) {
        entries.push({ name, absolute, stat });
      }
    }
  };
  await walk('');
  return entries;
}

/**
 * Packs `contextDir` as the engine's build context, honouring `.dockerignore`. A Dockerfile outside the context
 * travels inside the tar under a generated name, as the docker CLI does.
 */
export async function packBuildContext(contextDir: string, dockerfile: string): Promise<PackedContext> {
  const stat = await fs.promises.stat(contextDir).catch(() => undefined);
  if (!stat?.isDirectory()) throw new Error(`the build context '${contextDir}' is not a folder`);
  const relative = path.relative(contextDir, dockerfile);
  const inside = !!relative && !relative.startsWith('..') && !path.isAbsolute(relative);
  const dockerfileName = inside ? relative.split(path.sep).join('/') : `.dockerfile.${randomBytes(10).toString('hex')}`;
  const entries = await listContext(contextDir, inside ? [dockerfileName] : []);
  if (!inside) entries.push({ name: dockerfileName, absolute: dockerfile, stat: await fs.promises.stat(dockerfile) });

  // Loaded here: a run that stops at its inputs never reads tar-stream (build/bundle.mjs keeps it in its own file).
  const pack = (await import('tar-stream')).pack();
  void (async () => {
    for (const entry of entries) {
      const header = {
        name: entry.name,
        mode: entry.stat.mode & 0o7777,
        mtime: entry.stat.mtime,
        uid: 0,
        gid: 0,
      };
      if (entry.stat.isDirectory()) {
        pack.entry({ ...header, type: 'directory' });
      } else if (entry.stat.isSymbolicLink()) {
        pack.entry({ ...header, type: 'symlink', linkname: await fs.promises.readlink(entry.absolute) });
      } else {
        const sink = pack.entry({ ...header, type: 'file', size: entry.stat.size });
        await pipeline(fs.createReadStream(entry.absolute), sink);
      }
    }
    pack.finalize();
  })().catch((error: Error) => pack.destroy(error));
  return { stream: pack, dockerfile: dockerfileName, entries: entries.length };
}
