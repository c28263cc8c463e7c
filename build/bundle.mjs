// Bundles every task under tasks/ into dist/tasks/<Task>/: one esbuild bundle (index.js) beside its task.json and
// icon.png. The task version's minor and patch follow package.json, so each release moves every task and agents
// download the new bundle.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

/** See build/dockerode-session-unused.cjs. */
const leaveOutDockerodeSession = {
  name: 'leave-out-dockerode-session',
  setup(build) {
    build.onResolve({ filter: /^\.\/session$/ }, (args) =>
      /[\\/]dockerode[\\/]lib$/.test(args.resolveDir) ? { path: join(root, 'build', 'dockerode-session-unused.cjs') } : undefined,
    );
  },
};
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const [, minor, patch] = version.split('.').map(Number);

/** Task folders with a task.json and an entry point; a folder still missing either is not a task yet (the lint test says so). */
export function taskFolders() {
  const tasksDir = join(root, 'tasks');
  return readdirSync(tasksDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .filter((name) => {
      const complete = existsSync(join(tasksDir, name, 'task.json')) && existsSync(join(tasksDir, name, 'src', 'index.ts'));
      if (!complete) console.warn(`skipping tasks/${name}: it needs task.json and src/index.ts`);
      return complete;
    })
    .sort();
}

export async function bundleTasks() {
  const names = taskFolders();
  for (const name of names) {
    const source = join(root, 'tasks', name);
    const out = join(root, 'dist', 'tasks', name);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const task = JSON.parse(readFileSync(join(source, 'task.json'), 'utf8'));
    await build({
      entryPoints: [join(source, 'src', 'index.ts')],
      outfile: join(out, task.execution.Node20_1.target),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      minify: true,
      legalComments: 'none',
      logLevel: 'warning',
      // ssh2 (through dockerode) tries an optional native addon and falls back to JS when it is missing.
      external: ['cpu-features', '*.node'],
      plugins: [leaveOutDockerodeSession],
    });
    task.version = { Major: task.version.Major, Minor: minor, Patch: patch };
    writeFileSync(join(out, 'task.json'), JSON.stringify(task, null, 2) + '\n');
    copyFileSync(join(source, 'icon.png'), join(out, 'icon.png'));
  }
  return names;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const names = await bundleTasks();
  console.log(`bundled ${names.length} task(s): ${names.join(', ')}`);
}
