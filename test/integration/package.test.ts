// `npm run package` as an admin runs it: every finished task bundled into the .vsix with its task.json and icon,
// no node_modules, under 1 MB, and no network needed (run inside an empty network namespace where the machine
// allows it: any network call would fail the packaging). The same .vsix from a folder whose name has a space (a
// Windows home folder often has one); and a step that has nothing to bundle, or whose tfx fails, fails in one line.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inCi, repoRoot } from '../support/env';
import { bundleOnce } from '../support/harness';

/** Every entry of a zip file: name → uncompressed bytes (python3's zipfile: an independent reader). */
function zipContents(file: string): Map<string, Buffer> {
  const script = [
    'import sys, zipfile, json, base64',
    'z = zipfile.ZipFile(sys.argv[1])',
    'print(json.dumps([[i.filename, base64.b64encode(z.read(i)).decode()] for i in z.infolist()]))',
  ].join('\n');
  const entries = JSON.parse(execFileSync('python3', ['-c', script, file], { maxBuffer: 64 * 1024 * 1024 }).toString()) as [
    string,
    string,
  ][];
  return new Map(entries.map(([name, data]) => [name, Buffer.from(data, 'base64')]));
}

function canIsolateNetwork(): boolean {
  return spawnSync('unshare', ['-n', 'true']).status === 0;
}

/** `command args` without a network where the machine allows it (CI must: it runs as root). */
function offline(command: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const isolated = canIsolateNetwork();
  if (!isolated && inCi) throw new Error('CI runs as root and must be able to check packaging without a network (unshare -n)');
  const [file, ...rest] = isolated ? ['unshare', '-n', command, ...args] : [command, ...args];
  return spawnSync(file, rest, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
}

/** The repository as a checkout has it (no node_modules, build output or caches), with node_modules linked in. */
function copyCheckout(into: string): string {
  const skip = new Set(['node_modules', 'dist', '.git', '.tools', '.tmp', '.cache', '.taskkey']);
  fs.cpSync(repoRoot, into, {
    recursive: true,
    filter: (source) => !skip.has(path.relative(repoRoot, source).split(path.sep)[0]) && !source.endsWith('.vsix'),
  });
  fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(into, 'node_modules'), 'dir');
  return into;
}

function describeStep(run: SpawnSyncReturns<string>): string {
  return `exit ${run.status}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;
}

describe('npm run package (tfx-cli, offline)', function () {
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, 'vss-extension.json'), 'utf8'));
  const version = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;
  const vsixName = `${manifest.publisher}.${manifest.id}-${version}.vsix`;
  const vsix = path.join(repoRoot, 'dist', vsixName);
  const tasks = fs
    .readdirSync(path.join(repoRoot, 'tasks'))
    .filter((name) => fs.existsSync(path.join(repoRoot, 'tasks', name, 'src', 'index.ts')));

  before(async function () {
    await bundleOnce();
    fs.rmSync(vsix, { force: true });
    const run = offline(process.execPath, [path.join(repoRoot, 'build', 'package.mjs')], repoRoot);
    assert.equal(run.status, 0, describeStep(run));
  });

  it('writes a .vsix under 1 MB', () => {
    const size = fs.statSync(vsix).size;
    assert.ok(size < 1024 * 1024, `${size} bytes`);
  });

  it('holds every finished task: bundle, task.json with the release version, icon; no node_modules', () => {
    const entries = [...zipContents(vsix).keys()];
    assert.equal(entries.filter((entry) => entry.includes('node_modules')).length, 0);
    const [, minor, patch] = version.split('.').map(Number);
    assert.equal(tasks.length, 6, 'the six marketplace tasks');
    for (const task of tasks) {
      for (const file of ['index.js', 'task.js', 'task.json', 'icon.png'])
        assert.ok(entries.includes(`tasks/${task}/${file}`), `${task}/${file}`);
      const bundled = JSON.parse(fs.readFileSync(path.join(repoRoot, 'dist', 'tasks', task, 'task.json'), 'utf8'));
      assert.deepEqual(bundled.version, { Major: 1, Minor: minor, Patch: patch });
    }
    const taskFolders = new Set(
      entries
        .filter((entry) => entry.startsWith('tasks/'))
        .map((entry) => entry.split('/')[1])
        .filter(Boolean),
    );
    assert.deepEqual([...taskFolders].sort(), [...tasks].sort(), 'only finished tasks, no placeholders');
  });

  it('holds every file each bundle loads: every lib/ file a bundle names is in the .vsix', () => {
    const contents = zipContents(vsix);
    let named = 0;
    for (const task of tasks) {
      const folder = `tasks/${task}/`;
      for (const [name, bytes] of contents) {
        if (!name.startsWith(folder) || !name.endsWith('.js')) continue;
        // Relative .js files only: ssh2 also tries an optional native addon (*.node) and does without it.
        for (const [, required] of bytes.toString('utf8').matchAll(/require\("(\.\.?\/[^"]+\.js)"\)/g)) {
          const target = path.posix.join(path.posix.dirname(name), required);
          assert.ok(contents.has(target), `${name} requires ${required}, which is not in the .vsix`);
          named++;
        }
      }
    }
    assert.ok(named >= tasks.length, `the bundles name their lib/ files (${named} found)`);
  });

  it('puts overview.md (written for people installing the extension) on the marketplace page, not the README', () => {
    const contents = zipContents(vsix);
    assert.deepEqual(contents.get('overview.md'), fs.readFileSync(path.join(repoRoot, 'overview.md')));
    assert.match(
      contents.get('extension.vsixmanifest')!.toString(),
      /Type="Microsoft\.VisualStudio\.Services\.Content\.Details"[^>]*Path="overview\.md"/,
    );
  });

  it('declares one task contribution per task in the manifest', () => {
    const generated = JSON.parse(fs.readFileSync(path.join(repoRoot, 'dist', 'vss-extension.json'), 'utf8'));
    assert.deepEqual(
      generated.contributions.map((c: { properties: { name: string } }) => c.properties.name).sort(),
      tasks.map((t) => `tasks/${t}`).sort(),
    );
    assert.equal(generated.contributions.length, 6, 'the six marketplace tasks');
    for (const contribution of generated.contributions) assert.equal(contribution.type, 'ms.vss-distributed-task.task');
  });

  describe('what a start reads: a task stopped by its inputs loads no lib/ file', () => {
    // build/bundle.mjs keeps task-lib and the packages only some runs need out of task.js; a run loads them when it
    // uses them (shared/src/pipeline/agent.ts, await import), so a start that stops at its inputs reads none.
    const READ_AT_START: Record<string, string[]> = {};

    for (const task of [
      'BuildTestRunner',
      'PackageHelmChart',
      'PromoteImage',
      'PublishContainerTestResults',
      'PushImageByDigest',
      'RunContainerTests',
    ]) {
      it(task, () => {
        const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-start-'));
        try {
          const bundle = path.join(repoRoot, 'dist', 'tasks', task, 'index.js');
          const report = `process.on('exit', () => process.stderr.write('\\nLOADED ' + JSON.stringify(Object.keys(require.cache)) + '\\n')); require(${JSON.stringify(bundle)});`;
          const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, AGENT_TEMPDIRECTORY: temp, SYSTEM_DEFAULTWORKINGDIRECTORY: temp };
          const run = spawnSync(process.execPath, ['-e', report], { cwd: temp, env, encoding: 'utf8' });
          assert.match(run.stdout, /##vso\[task\.complete result=Failed;/, `${task} stops at its inputs\n${run.stdout}\n${run.stderr}`);
          const loaded = JSON.parse(/^LOADED (.*)$/m.exec(run.stderr)?.[1] ?? '[]') as string[];
          assert.ok(loaded.includes(bundle), `${task}: the report covers the bundle`);
          const libs = loaded
            .filter((file) => file.startsWith(path.join(path.dirname(bundle), 'lib') + path.sep))
            .map((file) => path.basename(file));
          const unexpected = libs.filter((lib) => !(READ_AT_START[task] ?? []).includes(lib));
          assert.deepEqual(
            unexpected,
            [],
            `${task} reads ${unexpected.join(', ')} as it starts: import it where it is used (await import)`,
          );
        } finally {
          fs.rmSync(temp, { recursive: true, force: true });
        }
      });
    }
  });

  describe('from copies of the checkout', function () {
    let work = '';
    beforeEach(() => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-package-'));
    });
    afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

    it('a folder whose name has a space gives the same .vsix entries, byte for byte, as a plain one', function () {
      this.timeout(300_000);
      // Both from one snapshot of the working tree: dist/ in place is shared with whoever else runs tests now.
      const plain = copyCheckout(path.join(work, 'plain', 'outer-loop'));
      const spaced = copyCheckout(path.join(work, 'with space', 'outer loop'));
      for (const dir of [plain, spaced]) {
        const run = offline('npm', ['run', 'package'], dir);
        assert.equal(run.status, 0, describeStep(run));
      }
      const fromPlain = zipContents(path.join(plain, 'dist', vsixName));
      const fromSpaced = zipContents(path.join(spaced, 'dist', vsixName));
      assert.ok(
        [...fromPlain.keys()].some((name) => /^tasks\/\w+\/index\.js$/.test(name)),
        'the .vsix holds the bundles',
      );
      // tfx writes the entries in the order its file reads finish and stamps each with the time it packs: only the
      // order and the zip's own timestamps differ between two runs, so entries are compared by name.
      assert.deepEqual([...fromSpaced.keys()].sort(), [...fromPlain.keys()].sort());
      for (const [name, bytes] of fromPlain) assert.ok(bytes.equals(fromSpaced.get(name)!), `${name} differs between the two folders`);
    });

    it('a checkout with no task to bundle fails in one line, and packaging without bundles fails in one line', function () {
      this.timeout(120_000);
      const dir = copyCheckout(path.join(work, 'no tasks'));
      for (const task of fs.readdirSync(path.join(dir, 'tasks')))
        fs.rmSync(path.join(dir, 'tasks', task, 'src'), { recursive: true, force: true });
      const bundle = offline(process.execPath, [path.join(dir, 'build', 'bundle.mjs')], dir);
      assert.notEqual(bundle.status, 0, describeStep(bundle));
      assert.match(bundle.stderr, /^bundle: no task to bundle: /m, describeStep(bundle));
      const packaged = offline('npm', ['run', 'package'], dir);
      assert.notEqual(packaged.status, 0, describeStep(packaged));
      assert.ok(!fs.existsSync(path.join(dir, 'dist', vsixName)), 'no .vsix');

      const unbundled = copyCheckout(path.join(work, 'unbundled'));
      const run = offline(process.execPath, [path.join(unbundled, 'build', 'package.mjs')], unbundled);
      assert.notEqual(run.status, 0, describeStep(run));
      assert.equal(run.stderr.trim().split('\n').length, 1, describeStep(run));
      assert.match(
        run.stderr,
        /^package: dist\/tasks has no bundle for BuildTestRunner, .*: run node build\/bundle\.mjs first/,
        describeStep(run),
      );
      assert.doesNotMatch(run.stdout + run.stderr, /^\s+at /m, 'no stack trace');
    });

    it("a tfx failure fails the step in one line that carries tfx's reason, with no stack trace", function () {
      this.timeout(300_000);
      const dir = copyCheckout(path.join(work, 'broken icon'));
      fs.rmSync(path.join(dir, 'images', 'extension-icon.png'));
      const run = offline('npm', ['run', 'package'], dir);
      assert.notEqual(run.status, 0, describeStep(run));
      assert.match(run.stderr, /^package: tfx extension create failed \(exit \d+\): .*extension-icon\.png/m, describeStep(run));
      assert.doesNotMatch(run.stdout + run.stderr, /^\s+at /m, 'no stack trace');
      assert.ok(!fs.existsSync(path.join(dir, 'dist', vsixName)), 'no .vsix');
    });
  });
});
