// bench/release: a release's promotion, end to end. The fixture (fixture.ts) is what CI leaves: IMAGES images of
// LAYERS random layers and a chart pinning the first of them, each signed and given an SBOM (OCI 1.1 referrers; the
// registry, distribution 2.8, keeps them in the referrers tag schema), all listed in a version 2 lock file. It is
// promoted three ways in the same run, each round into fresh target namespaces so no run profits from another:
//   1. one PromoteImage@1 process with `lockFile` (every entry, referrers included);
//   2. one PromoteImage@1 process per lock entry, in sequence: what a release with one step per image does today;
//   3. `skopeo copy --all` of each entry with its blob-info cache removed first (cold, as on a fresh agent); skopeo
//      copies no referrers.
// The tasks run from their bundles as the agent runs them (runBundledTask), under --handler. A counting proxy in
// front of the registry (test/support/fault-proxy.ts) counts each method's requests and the blob bytes that crossed
// it (and lists them by kind); afterwards every target is read back over the registry API (digest per tag, referrers
// present). Prints medians and ratios against the sequential processes; nothing here asserts a time.
//
//   npx tsx bench/release/index.ts [--images 20] [--layers 8] [--layer-bytes 1048576] [--rounds 3]
//                                  [--handler Node20_1|Node24] [--storage memory|disk] [--auth token|htpasswd]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { startFaultProxy, type FaultProxy } from '../../test/support/fault-proxy';
import { HANDLERS, type Handler } from '../../test/support/handlers';
import { bundleOnce, registryEndpoint, removeAgentTempDirectories, runBundledTask, type TaskRun } from '../../test/support/harness';
import { startRegistry } from '../../test/support/registries';
import { readLockFile } from '../../shared/src/release';
import { markdownTable, measure, median, removeSkopeoCache, requestBreakdown, skopeoCopy, type Measure } from '../support';
import { buildReleaseFixture, checkPromotion, type FixtureRegistry, type PromotionCheck, type ReleaseFixture } from './fixture';

const { values: args } = parseArgs({
  options: {
    images: { type: 'string', default: '20' },
    layers: { type: 'string', default: '8' },
    'layer-bytes': { type: 'string', default: String(1024 * 1024) },
    rounds: { type: 'string', default: '3' },
    handler: { type: 'string', default: 'Node20_1' },
    storage: { type: 'string', default: 'memory' },
    auth: { type: 'string', default: 'token' },
  },
});

function wholeNumber(name: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be a whole number >= ${min}, got '${text}'`);
  return value;
}

const IMAGES = wholeNumber('images', args.images, 1);
const LAYERS = wholeNumber('layers', args.layers, 1);
const LAYER_BYTES = wholeNumber('layer-bytes', args['layer-bytes'], 1);
const ROUNDS = wholeNumber('rounds', args.rounds, 1);
if (!HANDLERS.includes(args.handler as Handler)) throw new Error(`--handler must be one of ${HANDLERS.join(', ')}, got '${args.handler}'`);
const HANDLER = args.handler as Handler;
if (args.storage !== 'memory' && args.storage !== 'disk') throw new Error(`--storage must be memory or disk, got '${args.storage}'`);
const STORAGE = args.storage;
// The registry's storage: by default on tmpfs. On the disk of a small VM distribution's writes (a mount writes a link
// file, a manifest PUT several) become the bottleneck of every method alike: measured here, a mount took 83 ms on
// average on disk and 34 ms on tmpfs during the lockFile run, so the table would time the disk. `--storage disk`
// shows that case.
const TMPFS = '/dev/shm';
if (args.auth !== 'token' && args.auth !== 'htpasswd') throw new Error(`--auth must be token or htpasswd, got '${args.auth}'`);
// How the registry signs clients in. `token` (the default) is how ACR, Docker Hub and GHCR do it: a bearer token from
// a token service, checked by its signature on each request. `htpasswd` makes distribution check a bcrypt hash on
// every request, so the registry's CPU, not the client, sets the pace of every method alike.
const AUTH = args.auth;
const ENDPOINT_ID = 'registry';

type Method = 'lockFile' | 'sequential' | 'skopeo';

interface Round {
  measure: Measure;
  check: PromotionCheck;
}

function succeeded(run: TaskRun, what: string): TaskRun {
  if (run.result !== 'Succeeded')
    throw new Error(`${what}: the task ended ${run.result}: ${run.message}\n${run.lines.slice(-20).join('\n')}`);
  return run;
}

/** `host/path:tag@digest` for an entry (a chart's without `oci://`): the tag and the digest it must hold. */
function taggedPinned(fixture: ReleaseFixture, index: number): string {
  const { entry, tag } = fixture.subjects[index];
  return `${entry.pinnedReference.replace(/^oci:\/\//, '').replace(/@.*$/, '')}:${tag}@${entry.digest}`;
}

async function main(): Promise<void> {
  await bundleOnce();
  let storageDir: string | undefined;
  if (STORAGE === 'memory') {
    if (!fs.existsSync(TMPFS)) throw new Error(`--storage memory needs a tmpfs at ${TMPFS}: use --storage disk`);
    storageDir = fs.mkdtempSync(path.join(TMPFS, 'outerloop-bench-release-'));
  }
  const registry = await startRegistry(AUTH, storageDir ? { storageDir } : {});
  const proxy: FaultProxy = await startFaultProxy({ target: registry.url, faultRate: 0 });
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bench-release-'));
  const user = registry.users[0];
  const endpoints = [registryEndpoint(ENDPOINT_ID, proxy.url, user)];
  // Everything is named by the proxy's host, so every request of every method crosses it and is counted.
  const through: FixtureRegistry = { host: proxy.host, url: proxy.url, users: registry.users };
  try {
    const fixture = await buildReleaseFixture(through, {
      images: IMAGES,
      layers: LAYERS,
      bytesPerLayer: LAYER_BYTES,
      seed: `bench-release-${process.pid}-${Date.now()}`,
      workDir,
    });
    const entries = fixture.subjects.length;

    // Printed after the table: the lockFile task's own count, and anything a run left that it should not have.
    const notes = new Set<string>();
    const methods: Record<Method, { name: string; run: (namespace: string) => Promise<void>; rounds: Round[] }> = {
      lockFile: {
        name: 'PromoteImage@1 with lockFile (1 process)',
        rounds: [],
        run: async (namespace) => {
          const run = succeeded(
            await runBundledTask('PromoteImage', {
              inputs: { containerRegistry: ENDPOINT_ID, lockFile: fixture.lockFile, targetNamespace: namespace },
              endpoints,
              handler: HANDLER,
            }),
            'PromoteImage with lockFile',
          );
          const count = run.lines.find((line) => /^Promoted \d+ images? and/.test(line));
          if (count && ![...notes].some((note) => note.startsWith('the lockFile task')))
            notes.add(`the lockFile task's own count: ${count}`);
          const named = Object.keys(run.outputs).filter((name) => /^(pinned|chart)_/.test(name)).length;
          const promoted = run.outputs.promotedLockFile ? readLockFile(run.outputs.promotedLockFile).entries : [];
          const inTarget = promoted.filter((e) => e.pinnedReference.replace(/^oci:\/\//, '').startsWith(`${proxy.host}/${namespace}/`));
          if (named !== entries || inTarget.length !== entries) {
            notes.add(
              `warning: a lockFile run set ${named} pinned_/chart_ outputs and its promotedLockFile lists ${inTarget.length} promoted entries, for ${entries} entries`,
            );
          }
        },
      },
      sequential: {
        name: `PromoteImage@1 per entry (${entries} processes in sequence: ${IMAGES} images + the chart)`,
        rounds: [],
        run: async (namespace) => {
          for (let i = 0; i < entries; i++) {
            const sourceImage = taggedPinned(fixture, i);
            succeeded(
              await runBundledTask('PromoteImage', {
                inputs: { containerRegistry: ENDPOINT_ID, sourceImage, targetNamespace: namespace },
                endpoints,
                handler: HANDLER,
              }),
              `PromoteImage ${sourceImage}`,
            );
          }
        },
      },
      skopeo: {
        name: `skopeo copy --all per entry (${entries} processes, cold cache)`,
        rounds: [],
        run: async (namespace) => {
          removeSkopeoCache();
          for (const subject of fixture.subjects) {
            const source = subject.entry.pinnedReference.replace(/^oci:\/\//, '');
            await skopeoCopy(source, `${proxy.host}/${namespace}/${subject.repository}:${subject.tag}`, { all: true, credentials: user });
          }
        },
      },
    };
    const order: Method[] = ['lockFile', 'sequential', 'skopeo'];

    for (let round = 1; round <= ROUNDS; round++) {
      // Rotate which method goes first, so none always runs on a cold (or warm) machine.
      const turn = [...order.slice((round - 1) % order.length), ...order.slice(0, (round - 1) % order.length)];
      for (const key of turn) {
        const method = methods[key];
        const namespace = `prod-${key.toLowerCase()}-${round}`;
        const measured = await measure(method.name, proxy, () => method.run(namespace));
        method.rounds.push({ measure: measured, check: await checkPromotion(through, fixture, namespace) });
      }
    }

    const medianOf = (key: Method, pick: (round: Round) => number) => median(methods[key].rounds.map(pick));
    const anchor = medianOf('sequential', (r) => r.measure.seconds);
    console.log(
      `release: ${IMAGES} images × ${LAYERS} layers (${(fixture.layerBytes / 1e6).toFixed(1)} MB of layers) + 1 chart, ` +
        `each with a signature and an SBOM (${fixture.subjects.reduce((n, s) => n + s.referrers.length, 0)} referrers); ` +
        `registry storage ${STORAGE === 'memory' ? `in memory (${TMPFS})` : 'on disk'}; tasks under ${HANDLER}; median of ${ROUNDS} round(s), each into fresh namespaces`,
    );
    console.log(
      markdownTable(
        [
          'method',
          'wall s (median)',
          'all rounds',
          'requests',
          'blob bytes moved (down + up)',
          'mounts',
          'entries promoted',
          'referrers copied',
          'wall / sequential',
        ],
        order.map((key) => {
          const m = methods[key];
          const seconds = medianOf(key, (r) => r.measure.seconds);
          const last = m.rounds[m.rounds.length - 1].check;
          return [
            m.name,
            seconds.toFixed(3),
            m.rounds.map((r) => r.measure.seconds.toFixed(2)).join(' '),
            medianOf(key, (r) => r.measure.requests),
            medianOf(key, (r) => r.measure.blobBytes),
            medianOf(key, (r) => r.measure.counts.mountsCreated),
            `${medianOf(key, (r) => r.check.entriesPromoted)} of ${entries}`,
            `${medianOf(key, (r) => r.check.referrersCopied)} of ${last.referrersInSource}`,
            `${(seconds / anchor).toFixed(3)}x`,
          ];
        }),
        [false, true, false, true, true, true, true, true, true],
      ),
    );
    console.log('skopeo copies no referrers: the signatures and SBOMs stay behind, so its row does less than the others.');
    for (const key of order)
      console.log(`requests of ${methods[key].name}, round 1: ${requestBreakdown(methods[key].rounds[0].measure.log)}`);
    for (const key of order) {
      const missing = [...new Set(methods[key].rounds.flatMap((r) => r.check.missing))];
      if (missing.length)
        console.log(`warning: ${methods[key].name} left ${missing.length} target(s) without the source digest: ${missing.join(', ')}`);
    }
    const lock = methods.lockFile;
    const ratio = medianOf('lockFile', (r) => r.measure.seconds) / anchor;
    const blobBytes = Math.max(...lock.rounds.map((r) => r.measure.blobBytes));
    const copied = Math.min(...lock.rounds.map((r) => r.check.referrersCopied));
    const inSource = lock.rounds[0].check.referrersInSource;
    console.log(`goal: lockFile ≤ 0.3× of the ${entries} sequential processes: ${ratio.toFixed(3)}x (${ratio <= 0.3 ? 'met' : 'not met'})`);
    console.log(
      `goal: lockFile moves 0 blob bytes (mounts on one registry): ${blobBytes} at most in a round (${blobBytes === 0 ? 'met' : 'not met'})`,
    );
    console.log(
      `goal: lockFile copies every referrer: ${copied} of ${inSource} in every round (${copied === inSource ? 'met' : 'not met'})`,
    );
    console.log(
      `ratio lockFile / skopeo: ${(medianOf('lockFile', (r) => r.measure.seconds) / medianOf('skopeo', (r) => r.measure.seconds)).toFixed(3)}x`,
    );
    for (const note of notes) console.log(note);
  } finally {
    await proxy.stop();
    await registry.stop();
    removeAgentTempDirectories();
    fs.rmSync(workDir, { recursive: true, force: true });
    if (storageDir) fs.rmSync(storageDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
