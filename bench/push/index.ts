// bench/push: one ~34 MB, 9-layer image pushed two ways in the same run, each into a fresh registry (so neither
// finds layers already there or mountable):
//   1. the push verb behind PushImageByDigest@1 (tag, push through the engine API, digest from the engine's aux event,
//      confirmed by a registry HEAD for the tag);
//   2. `docker push` of the same image (the CLI, as the anchor).
// Rounds alternate which goes first. Prints medians and the ratio (goal <= 1.1x); nothing here asserts a time.
// Run: npx tsx bench/push/index.ts
import { execFileSync } from 'node:child_process';
import type Dockerode from 'dockerode';
import { pushImage, type ConfirmDigest } from '../../shared/src/docker/push';
import { silentLog } from '../../shared/src/log';
import { buildBusyboxImage, connectEngine, removeTestImages, TEST_RUN_ID } from '../../test/support/engine';
import { MANIFEST_ACCEPT, SeedClient } from '../../test/support/images';
import { startRegistry, type TestRegistry } from '../../test/support/registries';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function head(registry: TestRegistry): ConfirmDigest {
  return async (repository, tag) => {
    const repo = repository.slice(registry.host.length + 1);
    const res = await new SeedClient(registry).request('HEAD', `/v2/${repo}/manifests/${tag}`, { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status !== 200) throw new Error(`HEAD ${repo}:${tag} → ${res.status}`);
    return { digest: res.headers.get('docker-content-digest') ?? '', mediaType: res.headers.get('content-type') ?? undefined };
  };
}

async function timed(action: () => Promise<unknown> | unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
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
  const docker = (await connectEngine()) as Dockerode | undefined;
  if (!docker) throw new Error('bench/push needs a Docker engine');
  const source = `outerloop-bench/push-source:${TEST_RUN_ID}`;
  const task: number[] = [];
  const cli: number[] = [];
  try {
    await buildBusyboxImage(docker, { tag: source, layers: 8, bytesPerLayer: 4 * 1024 * 1024, seed: 'bench-push' });
    const size = (await docker.getImage(source).inspect()).Size / 1e6;
    const viaTask = () =>
      withFreshRegistry(async (registry) => {
        const repository = `${registry.host}/bench/app`;
        task.push(await timed(() => pushImage(docker, { sourceImage: source, repository, tags: ['1'] }, silentLog, head(registry))));
      });
    const viaCli = () =>
      withFreshRegistry(async (registry) => {
        const ref = `${registry.host}/bench/app:1`;
        await docker.getImage(source).tag({ repo: `${registry.host}/bench/app`, tag: '1' });
        cli.push(await timed(() => execFileSync('docker', ['push', '-q', ref], { stdio: ['ignore', 'ignore', 'pipe'] })));
      });
    for (let i = 0; i < RUNS; i++) {
      if (i % 2 === 0) {
        await viaTask();
        await viaCli();
      } else {
        await viaCli();
        await viaTask();
      }
    }
    console.log(`image: 9 layers, ${size.toFixed(1)} MB; median of ${RUNS} rounds, each push into a fresh registry`);
    console.log('| method | median s | all runs |');
    console.log('| --- | ---: | --- |');
    console.log(`| pushImage (PushImageByDigest@1 core, incl. registry HEAD) | ${median(task).toFixed(3)} | ${task.map((t) => t.toFixed(3)).join(' ')} |`);
    console.log(`| docker push (CLI) | ${median(cli).toFixed(3)} | ${cli.map((t) => t.toFixed(3)).join(' ')} |`);
    console.log(`ratio task/docker push: ${(median(task) / median(cli)).toFixed(3)}x (goal <= 1.1x)`);
  } finally {
    await removeTestImages(docker, { onlyThisRun: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
