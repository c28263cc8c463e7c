// bench/promote: one ~17 MB, 8-layer image in a local registry, promoted three ways in the same run:
//   1. the core's promoteImage in this process, and PromoteImage@1's bundle run as the agent runs it
//      (cross-repository mounts, manifest bytes copied);
//   2. `skopeo copy` with its blob-info cache removed first, as on a fresh agent;
//   3. `docker pull` / `docker tag` / `docker push` after removing the local image.
// A counting proxy in front of the registry reports requests and blob bytes moved for each. Prints ratios against
// the anchors; nothing here asserts a time.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { buildBusyboxImage, connectEngine, pushImageWithEngine } from '../../test/support/engine';
import { startFaultProxy } from '../../test/support/fault-proxy';
import { bundleOnce, runBundledTask } from '../../test/support/harness';
import { startRegistry } from '../../test/support/registries';
import { silentLog } from '../../shared/src/log';
import { promoteImage } from '../../shared/src/registry';
import { markdownTable, measure, removeSkopeoCache, skopeoCopy } from '../support';

// Async on purpose: the counting proxy runs in this process, so a synchronous child would block it.
const run = promisify(execFile);

async function main(): Promise<void> {
  const docker = await connectEngine();
  if (!docker) throw new Error('bench/promote needs a Docker engine (scripts/machine-setup.sh starts one)');
  await bundleOnce();
  const registry = await startRegistry('anonymous');
  const proxy = await startFaultProxy({ target: registry.url, faultRate: 0 });
  const image = `${registry.host}/bench/app:v1`;
  try {
    await buildBusyboxImage(docker, {
      tag: image,
      layers: 7,
      bytesPerLayer: 2_250_000,
      seed: `bench-promote-${process.pid}-${Date.now()}`,
    });
    await pushImageWithEngine(docker, image);
    const source = `${proxy.host}/bench/app:v1`;
    const sizeMb = (await docker.getImage(image).inspect()).Size / 1e6;
    const layers = (await docker.getImage(image).inspect()).RootFS.Layers?.length ?? 0;

    const task = await measure('PromoteImage@1 (task process)', proxy, async () => {
      const run = await runBundledTask('PromoteImage', { inputs: { sourceImage: source, targetNamespace: 'prod-task' } });
      if (run.result !== 'Succeeded') throw new Error(`the task failed: ${run.message}\n${run.stdout}`);
    });

    const core = await measure('promoteImage (core, in this process)', proxy, async () => {
      await promoteImage({ sourceImage: source, targetNamespace: 'prod-core' }, silentLog);
    });

    removeSkopeoCache();
    const skopeo = await measure('skopeo copy (cold cache)', proxy, async () => {
      await skopeoCopy(source, `${proxy.host}/prod-skopeo/bench/app:v1`);
    });

    const cli = (...args: string[]) => run('docker', args);
    for (const ref of [image, source, `${proxy.host}/prod-docker/bench/app:v1`]) {
      await cli('rmi', '-f', ref).catch(() => undefined);
    }
    const dockerCli = await measure('docker pull/tag/push (no local image)', proxy, async () => {
      await cli('pull', '-q', source);
      await cli('tag', source, `${proxy.host}/prod-docker/bench/app:v1`);
      await cli('push', '-q', `${proxy.host}/prod-docker/bench/app:v1`);
    });
    for (const ref of [source, `${proxy.host}/prod-docker/bench/app:v1`]) {
      await cli('rmi', '-f', ref).catch(() => undefined);
    }
    const pulledBytes = dockerCli.blobBytes;
    if (pulledBytes < sizeMb * 1e6 * 0.5) console.log(`warning: docker moved only ${pulledBytes} blob bytes: its pull was not cold`);

    console.log(`image: ${layers} layers, ${sizeMb.toFixed(1)} MB`);
    console.log(
      markdownTable(
        ['method', 'wall s', 'requests', 'blob bytes moved'],
        [core, task, skopeo, dockerCli].map((m) => [m.name, m.seconds.toFixed(3), m.requests, m.blobBytes]),
        [false, true, true, true],
      ),
    );
    for (const m of [core, task]) {
      console.log(`ratio ${m.name} / skopeo: ${(m.seconds / skopeo.seconds).toFixed(3)}x (goal <= 0.2x)`);
      console.log(`ratio ${m.name} / docker: ${(m.seconds / dockerCli.seconds).toFixed(3)}x (goal <= 0.1x)`);
    }
    console.log(
      `task process wall time: ${task.seconds.toFixed(3)} s (goal <= 0.5 s); requests ${task.requests} for ${layers} layers (goal <= ${layers + 4})`,
    );
  } finally {
    await proxy.stop();
    await registry.stop();
  }
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
