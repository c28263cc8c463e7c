// Builds the .vsix from dist/: the root vss-extension.json plus one contribution and one files entry per bundled
// task (only tasks that exist go in: no placeholders), overview.md as the marketplace page. tfx-cli runs offline.
// Fails in one line, with a non-zero exit code, when a task has no bundle or tfx fails.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { isMain, runScript, taskFolders } from './bundle.mjs';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');

/** tfx's own script, run with this node: `node_modules/.bin/tfx` is a shell script, and on Windows a .cmd. */
function tfxScript() {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('tfx-cli/package.json');
  return join(dirname(manifest), JSON.parse(readFileSync(manifest, 'utf8')).bin.tfx);
}

/** The .vsix path; throws when a task folder has no bundle in dist/ (run build/bundle.mjs first). */
export function packageExtension() {
  const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8'));
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const tasks = taskFolders();
  if (tasks.length === 0) throw new Error(`no task to package: no folder under ${join(root, 'tasks')} has task.json and src/index.ts`);
  const unbundled = tasks.filter((name) => {
    const taskJson = join(dist, 'tasks', name, 'task.json');
    if (!existsSync(taskJson)) return true;
    const execution = JSON.parse(readFileSync(taskJson, 'utf8')).execution ?? {};
    return Object.values(execution).some((handler) => !existsSync(join(dist, 'tasks', name, handler.target)));
  });
  if (unbundled.length > 0)
    throw new Error(`dist/tasks has no bundle for ${unbundled.join(', ')}: run node build/bundle.mjs first (npm run package does both)`);

  manifest.version = version;
  manifest.files = [{ path: 'images', addressable: true }, ...tasks.map((name) => ({ path: `tasks/${name}` }))];
  manifest.contributions = tasks.map((name) => ({
    id: name.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase(),
    type: 'ms.vss-distributed-task.task',
    targets: ['ms.vss-distributed-task.tasks'],
    properties: { name: `tasks/${name}` },
  }));
  mkdirSync(dist, { recursive: true });
  rmSync(join(dist, 'images'), { recursive: true, force: true });
  cpSync(join(root, 'images'), join(dist, 'images'), { recursive: true });
  copyFileSync(join(root, 'overview.md'), join(dist, 'overview.md'));
  writeFileSync(join(dist, 'vss-extension.json'), JSON.stringify(manifest, null, 2) + '\n');

  const vsix = join(dist, `${manifest.publisher}.${manifest.id}-${version}.vsix`);
  rmSync(vsix, { force: true });
  const args = [
    'extension',
    'create',
    '--root',
    dist,
    '--manifest-globs',
    'vss-extension.json',
    '--output-path',
    vsix,
    '--no-prompt',
    '--no-color',
  ];
  if (process.env.OUTERLOOP_PUBLISHER) args.push('--publisher', process.env.OUTERLOOP_PUBLISHER);
  const tfx = spawnSync(process.execPath, [tfxScript(), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, TFX_TRACE: '' } });
  if (tfx.error) throw new Error(`tfx extension create could not start: ${tfx.error.message}`);
  const output = `${tfx.stdout}${tfx.stderr}`;
  if (tfx.status !== 0 || !existsSync(vsix)) {
    // tfx prints a banner and then its error; the error line is the one to show.
    const reason = output.split(/\r?\n/).find((line) => /^error:/i.test(line.trim())) ?? output.trim().split(/\r?\n/).pop() ?? '';
    throw new Error(`tfx extension create failed (exit ${tfx.status ?? tfx.signal}): ${reason.trim() || 'no output'}`);
  }
  process.stdout.write(tfx.stdout);
  return vsix;
}

if (isMain(import.meta.url)) {
  runScript('package', async () => {
    const vsix = packageExtension();
    console.log(`packaged ${vsix}`);
  });
}
