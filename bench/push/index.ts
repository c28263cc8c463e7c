// bench/push: one ~34 MB, 9-layer image pushed three ways in the same run, each into a fresh registry (so none
// finds layers already there or mountable):
//   1. the push verb behind PushImageByDigest@1 (tag, push through the engine API, digest from the engine's aux event,
//      confirmed by a registry HEAD for the tag);
//   2. the bundled PushImageByDigest@1 task run as the agent runs it (node start, inputs, the verb with the product's
//      registry client confirming the digest, the lock file, artifact.upload);
//   3. `docker push` of the same image (the CLI, as the anchor).
// Rounds rotate which goes first. Prints medians and the ratios (goal <= 1.1x); nothing here asserts a time.
// Run: npx tsx bench/push/index.ts
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { pushImage, type ConfirmDigest } from '../../shared/src/docker/push';
import { silentLog } from '../../shared/src/log';
import { buildBusyboxImage, connectEngine, removeTestImages, TEST_RUN_ID } from '../../test/support/engine';
import { bundleOnce, runBundledTask } from '../../test/support/harness';
import { MANIFEST_ACCEPT, SeedClient } from '../../test/support/images';
import { startRegistry, type TestRegistry } from '../../test/support/registries';
import { median } from '../support';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function head(registry: TestRegistry): ConfirmDigest {
  return async (repository, tag) => {
    const repo = repository.slice(registry.host.length + 1);
    const res = await new SeedClient(registry).request('HEAD', `/v2/${repo}/manifests/${tag}`, { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status !== 200) throw new Error(`HEAD ${repo}:${tag} → ${res.status}`);
    return { digest: res.headers.get('docker-content-digest') ?? '', mediaType: res.headers.get('content-type') ?? undefined };
  };
}

async function timed(action: () => unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function withFreshRegistry<T>(action: (registry: TestRegistry) => Promise<T>): Promise<T> {
  const registry = await startRegistry('anonymous');
  try {
    return await action(registry);
  } finally {
    await registry.stop();
  }
}

async function main(): Promise<void> {
  const docker = await connectEngine();
  if (!docker) throw new Error('bench/push needs a Docker engine');
  const source = `outerloop-bench/push-source:${TEST_RUN_ID}`;
  const task: number[] = [];
  const bundled: number[] = [];
  const cli: number[] = [];
  const agentFolders: string[] = [];
  try {
    await bundleOnce();
    await buildBusyboxImage(docker, { tag: source, layers: 8, bytesPerLayer: 4 * 1024 * 1024, seed: 'bench-push' });
    const size = (await docker.getImage(source).inspect()).Size / 1e6;
    const viaTask = () =>
      withFreshRegistry(async (registry) => {
        const repository = `${registry.host}/bench/app`;
        task.push(await timed(() => pushImage(docker, { sourceImage: source, repository, tags: ['1'] }, silentLog, head(registry))));
      });
    const viaBundle = () =>
      withFreshRegistry(async (registry) => {
        const inputs = { repository: `${registry.host}/bench/app`, tags: '1', sourceImage: source };
        bundled.push(
          await timed(async () => {
            const run = await runBundledTask('PushImageByDigest', { inputs });
            agentFolders.push(run.tempDirectory);
            if (run.result !== 'Succeeded') throw new Error(`PushImageByDigest@1: ${run.result}: ${run.message}`);
          }),
        );
      });
    const viaCli = () =>
      withFreshRegistry(async (registry) => {
        const ref = `${registry.host}/bench/app:1`;
        await docker.getImage(source).tag({ repo: `${registry.host}/bench/app`, tag: '1' });
        cli.push(await timed(() => execFileSync('docker', ['push', '-q', ref], { stdio: ['ignore', 'ignore', 'pipe'] })));
      });
    const methods = [viaTask, viaBundle, viaCli];
    for (let i = 0; i < RUNS; i++) {
      for (let k = 0; k < methods.length; k++) await methods[(i + k) % methods.length]();
    }
    console.log(`image: 9 layers, ${size.toFixed(1)} MB; median of ${RUNS} rounds, each push into a fresh registry`);
    console.log('| method | median s | all runs |');
    console.log('| --- | ---: | --- |');
    console.log(
      `| pushImage (PushImageByDigest@1 core, incl. registry HEAD) | ${median(task).toFixed(3)} | ${task.map((t) => t.toFixed(3)).join(' ')} |`,
    );
    console.log(
      `| PushImageByDigest@1 bundle, run as the agent runs it | ${median(bundled).toFixed(3)} | ${bundled.map((t) => t.toFixed(3)).join(' ')} |`,
    );
    console.log(`| docker push (CLI) | ${median(cli).toFixed(3)} | ${cli.map((t) => t.toFixed(3)).join(' ')} |`);
    console.log(`ratio verb/docker push: ${(median(task) / median(cli)).toFixed(3)}x (goal <= 1.1x)`);
    console.log(`ratio bundled task/docker push: ${(median(bundled) / median(cli)).toFixed(3)}x (goal <= 1.1x)`);
  } finally {
    await removeTestImages(docker, { onlyThisRun: true });
    for (const folder of agentFolders) fs.rmSync(folder, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
