// `npm run package` as an admin runs it: every finished task bundled into the .vsix with its task.json and icon,
// no node_modules, under 1 MB, and no network needed (run inside an empty network namespace where the machine
// allows it: any network call would fail the packaging).
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { inCi, repoRoot } from '../support/env';
import { bundleOnce } from '../support/harness';

function zipEntries(file: string): string[] {
  const script = 'import sys, zipfile; print("\\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))';
  return execFileSync('python3', ['-c', script, file]).toString().trim().split('\n');
}

function canIsolateNetwork(): boolean {
  return spawnSync('unshare', ['-n', 'true']).status === 0;
}

describe('npm run package (tfx-cli, offline)', function () {
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'vss-extension.json'), 'utf8'));
  const version = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;
  const vsix = path.join(repoRoot, 'dist', `${manifest.publisher}.${manifest.id}-${version}.vsix`);
  const tasks = fs.readdirSync(path.join(repoRoot, 'tasks')).filter((name) => fs.existsSync(path.join(repoRoot, 'tasks', name, 'src', 'index.ts')));

  before(async function () {
    await bundleOnce();
    fs.rmSync(vsix, { force: true });
    const isolated = canIsolateNetwork();
    if (!isolated && inCi) throw new Error('CI runs as root and must be able to check packaging without a network (unshare -n)');
    const command = isolated ? ['unshare', '-n', process.execPath] : [process.execPath];
    execFileSync(command[0], [...command.slice(1), path.join(repoRoot, 'build', 'package.mjs')], { cwd: repoRoot, stdio: 'pipe' });
  });

  it('writes a .vsix under 1 MB', () => {
    const size = fs.statSync(vsix).size;
    assert.ok(size < 1024 * 1024, `${size} bytes`);
  });

  it('holds every finished task: bundle, task.json with the release version, icon; no node_modules', () => {
    const entries = zipEntries(vsix);
    assert.equal(entries.filter((entry) => entry.includes('node_modules')).length, 0);
    const [, minor, patch] = version.split('.').map(Number);
    for (const task of tasks) {
      for (const file of ['index.js', 'task.json', 'icon.png']) assert.ok(entries.includes(`tasks/${task}/${file}`), `${task}/${file}`);
      const bundled = JSON.parse(fs.readFileSync(path.join(repoRoot, 'dist', 'tasks', task, 'task.json'), 'utf8'));
      assert.deepEqual(bundled.version, { Major: 1, Minor: minor, Patch: patch });
    }
    const taskFolders = new Set(entries.filter((entry) => entry.startsWith('tasks/')).map((entry) => entry.split('/')[1]).filter(Boolean));
    assert.deepEqual([...taskFolders].sort(), [...tasks].sort(), 'only finished tasks, no placeholders');
  });

  it('declares one task contribution per task in the manifest', () => {
    const generated = JSON.parse(fs.readFileSync(path.join(repoRoot, 'dist', 'vss-extension.json'), 'utf8'));
    assert.deepEqual(generated.contributions.map((c: { properties: { name: string } }) => c.properties.name).sort(), tasks.map((t) => `tasks/${t}`).sort());
    for (const contribution of generated.contributions) assert.equal(contribution.type, 'ms.vss-distributed-task.task');
  });
});
