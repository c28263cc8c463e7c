// Builds the .vsix from dist/: the root vss-extension.json plus one contribution and one files entry per bundled
// task (only tasks that exist go in: no placeholders). tfx-cli runs offline.
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { taskFolders } from './bundle.mjs';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');
const manifest = JSON.parse(readFileSync(join(root, 'vss-extension.json'), 'utf8'));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const tasks = taskFolders();
manifest.version = version;
manifest.files = [{ path: 'images', addressable: true }, ...tasks.map((name) => ({ path: `tasks/${name}` }))];
manifest.contributions = tasks.map((name) => ({
  id: name.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase(),
  type: 'ms.vss-distributed-task.task',
  targets: ['ms.vss-distributed-task.tasks'],
  properties: { name: `tasks/${name}` },
}));
mkdirSync(dist, { recursive: true });
cpSync(join(root, 'images'), join(dist, 'images'), { recursive: true });
copyFileSync(join(root, 'README.md'), join(dist, 'overview.md'));
writeFileSync(join(dist, 'vss-extension.json'), JSON.stringify(manifest, null, 2) + '\n');

const publisher = process.env.OUTERLOOP_PUBLISHER;
const args = ['extension', 'create', '--root', dist, '--manifest-globs', 'vss-extension.json', '--output-path', join(dist, `${manifest.publisher}.${manifest.id}-${version}.vsix`), '--no-prompt', '--no-color'];
if (publisher) args.push('--publisher', publisher);
execFileSync(join(root, 'node_modules', '.bin', 'tfx'), args, { stdio: 'inherit', env: { ...process.env, TFX_TRACE: '' } });
