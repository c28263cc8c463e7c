// PromoteImage@1 with `lockFile`, run from its bundle as the agent runs it: every image and chart of the lock file
// promoted by digest into a real distribution registry (2.8), with what is attached to them; outputs per entry, the
// promoted lock file published as an artifact, a run summary; a refusal anywhere leaves the registry as it was.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseLock, serializeLock } from '../../shared/src/release';
import { listRegistry, referrersOf } from '../support/attach';
import { startFaultProxy } from '../support/fault-proxy';
import { requireHelm } from '../support/helm';
import { assertFailedCleanly, bundleOnce, describeRun, runBundledTask, uploadedSummary } from '../support/harness';
import { fetchManifest, pushRandomImage } from '../support/images';
import { requireRegistry, sharedRegistry, startRegistry, type TestRegistry } from '../support/registries';
import { CHART_NAME, CHART_VERSION, seedRelease } from '../support/release-seed';

const TASK = 'PromoteImage';

describe('PromoteImage@1 with a lock file (bundle run as the agent runs it, real registry and helm)', function () {
  let registry: TestRegistry;
  let folder: string;
  before(async function () {
    requireRegistry(this);
    requireHelm(this);
    await bundleOnce();
    registry = await sharedRegistry('anonymous');
  });
  beforeEach(() => {
    folder = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-task-lock-'));
  });
  afterEach(() => fs.rmSync(folder, { recursive: true, force: true }));

  it('promotes every entry, sets pinned_/chart_ outputs, publishes the promoted lock file, and a re-run writes nothing', async () => {
    const seeded = await seedRelease(registry, 'task-rel', { chart: true });
    const proxy = await startFaultProxy({ target: registry.url, faultRate: 0 });
    try {
      const lockFile = path.join(folder, 'image-lock.json');
      fs.writeFileSync(lockFile, serializeLock(seeded.lock(proxy.host)));
      const inputs = { lockFile: 'image-lock.json', additionalTags: 'release-7' };
      const run = await runBundledTask(TASK, { inputs, cwd: folder, reader: 'late' });
      assert.equal(run.result, 'Succeeded', describeRun(run));

      const host = proxy.host;
      assert.equal(run.outputs.pinned_api, `${host}/prod/${seeded.api.repo}@${seeded.api.digest}`);
      assert.equal(run.outputs.pinned_web, `${host}/prod/${seeded.web.repo}@${seeded.web.digest}`);
      assert.equal(run.outputs.chart_sample_service, `oci://${host}/prod/task-rel/charts/${CHART_NAME}@${seeded.chart!.digest}`);
      assert.equal(run.outputs.digest, undefined, 'the single-image outputs are not set');
      const promotedLockFile = run.outputs.promotedLockFile;
      assert.equal(promotedLockFile, path.join(run.tempDirectory, 'a', 'promoted-lock.json'));
      const upload = run.commands.find((c) => c.command === 'artifact.upload');
      assert.deepEqual(upload?.properties, { containerfolder: 'promoted-lock', artifactname: 'promoted-lock' });
      assert.equal(upload?.message, promotedLockFile);
      const promoted = parseLock(fs.readFileSync(promotedLockFile, 'utf8'));
      assert.deepEqual(
        promoted.entries.map((e) => [e.repository, e.tags]),
        [
          [`${host}/prod/${seeded.api.repo}`, ['101', 'release-7']],
          [`${host}/prod/${seeded.web.repo}`, ['101', 'release-7']],
          [`oci://${host}/prod/task-rel/charts/${CHART_NAME}`, [CHART_VERSION, 'release-7']],
        ],
      );

      // One line per entry and a summary, in the log and on the run's summary page.
      assert.equal(run.lines.filter((l) => /^(image|chart) /.test(l)).length, 3, run.lines.join('\n'));
      assert.ok(
        run.lines.some((l) => l.startsWith('Promoted 2 images and 1 chart: 6 tags written')),
        run.lines.join('\n'),
      );
      const { markdown } = uploadedSummary(run);
      assert.match(markdown, /\| Kind \| Promoted \| Tags \| This run \| Referrers copied \| Output variable \|/);
      assert.match(markdown, new RegExp(`\`chart_sample_service\``));
      assert.match(markdown, /deploy it with the image repository set to the promoted one/);

      assert.equal((await fetchManifest(registry, `prod/${seeded.api.repo}`, 'release-7', null)).digest, seeded.api.digest);
      const attached = await referrersOf(registry, `prod/${seeded.api.repo}`, seeded.api.digest, { auth: null });
      assert.equal(attached.referrers.length, 2);
      assert.ok(attached.cosign.sig && attached.cosign.att);

      proxy.reset();
      const again = await runBundledTask(TASK, { inputs, cwd: folder });
      assert.equal(again.result, 'Succeeded', describeRun(again));
      const counts = proxy.counts();
      assert.equal(counts.manifestPuts + counts.uploadStarts + counts.mounts, 0, 'a re-run writes nothing');
      assert.equal(again.outputs.pinned_api, run.outputs.pinned_api);
    } finally {
      await proxy.stop();
    }
  });

  it('a refused tag in the last entry fails naming allowOverwrite and leaves the registry as it was', async () => {
    const own = await startRegistry('anonymous');
    try {
      const seeded = await seedRelease(own, 'task-refuse', { chart: true });
      await pushRandomImage(own, `prod/task-refuse/charts/${CHART_NAME}`, CHART_VERSION, { layers: 1, seed: 'task-refuse-other' });
      fs.writeFileSync(path.join(folder, 'lock.json'), serializeLock(seeded.lock(own.host)));
      const before = await listRegistry(own, { auth: null });
      const run = await runBundledTask(TASK, { inputs: { lockFile: 'lock.json' }, cwd: folder });
      assertFailedCleanly(run, /refusing to move a tag that points at another image .*nothing was changed: set allowOverwrite: true/);
      assert.deepEqual(await listRegistry(own, { auth: null }), before, 'catalog, tags (referrers and cosign tags too) unchanged');
      assert.equal(
        run.commands.find((c) => c.command === 'artifact.upload'),
        undefined,
        'no promoted lock file published',
      );
    } finally {
      await own.stop();
    }
  });

  it('in a classic release (System.HostType release) writes the promoted lock file but uploads no artifact, which the agent would fail', async () => {
    const seeded = await seedRelease(registry, 'task-classic', { chart: false });
    fs.writeFileSync(path.join(folder, 'lock.json'), serializeLock(seeded.lock(registry.host)));
    const run = await runBundledTask(TASK, { inputs: { lockFile: 'lock.json' }, cwd: folder, variables: { 'System.HostType': 'release' } });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.equal(
      run.commands.find((c) => c.command === 'artifact.upload'),
      undefined,
      describeRun(run),
    );
    assert.ok(fs.existsSync(run.outputs.promotedLockFile), 'the promoted lock file is there for the next task');
    assert.ok(
      run.lines.some((l) =>
        l.endsWith("is not published as artifact 'promoted-lock': this job is a release, where the agent uploads no artifacts"),
      ),
      run.lines.join('\n'),
    );
    assert.ok(!uploadedSummary(run).markdown.includes('published as artifact'));
  });

  it('promotes sourceImage when lockFile comes as the working folder, as the agent hands over an empty file path', async () => {
    const source = await pushRandomImage(registry, 'task-rel-empty/app', 'v1', { layers: 1, seed: 'task-rel-empty' });
    const run = await runBundledTask(TASK, {
      inputs: { sourceImage: `${registry.host}/task-rel-empty/app:v1`, lockFile: folder },
      cwd: folder,
    });
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.equal(run.outputs.digest, source.digest);
  });
});
