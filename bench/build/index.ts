// bench/build: the sample service's runtime image (final) built right after its testrunner, against building both
// cold, for BuildKit and the classic builder, in the same run. "Cold" = no-cache (nothing reused, nothing pruned,
// so other users of the engine are unaffected). The saving comes from the stages final shares with testrunner
// (base, build), which BuildTestRunner@1 reuses because both builds go through the same engine cache. Prints
// medians of BENCH_RUNS rounds and their ratios; nothing here asserts a time.
// Run: npx tsx bench/build/index.ts
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildImage, type BuilderChoice } from '../../shared/src/docker/build';
import { silentLog } from '../../shared/src/log';
import { stageSampleService } from '../../test/fixtures/sample-service/stage';
import { connectEngine, removeTestImages, TEST_LABEL, TEST_RUN_ID, TEST_RUN_LABEL } from '../../test/support/engine';
import { median } from '../support';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const labels = { [TEST_LABEL]: '1', [TEST_RUN_LABEL]: TEST_RUN_ID };

/** Service code heavy enough that rebuilding the build stage costs something (a 32 MB generated asset). */
function addWeight(dir: string): void {
  fs.writeFileSync(path.join(dir, 'src', 'asset.bin'), Buffer.alloc(32 * 1024 * 1024, 7));
  fs.appendFileSync(path.join(dir, 'src', 'build.sh'), 'cp /src/src/asset.bin /out/asset.bin && sha256sum /out/asset.bin\n');
}

async function seconds(action: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function main(): Promise<void> {
  const docker = await connectEngine();
  if (!docker) throw new Error('bench/build needs a Docker engine');
  const dir = stageSampleService();
  addWeight(dir);
  const build = (builder: BuilderChoice, target: string, noCache: boolean) =>
    buildImage(
      docker,
      {
        dockerfile: path.join(dir, 'Dockerfile'),
        context: dir,
        target,
        noCache,
        imageName: `outerloop-bench/sample-${target || 'final'}:${builder}`,
        builder,
        labels,
      },
      silentLog,
    );
  const rows: string[] = [];
  // A cold classic build of final rebuilds the build stage as untagged, unlabelled images that no tag keeps alive:
  // the ones this bench made are removed at the end (assumes nothing else builds on the engine meanwhile).
  const danglingBefore = new Set((await docker.listImages({ filters: { dangling: ['true'] } })).map((i) => i.Id));
  try {
    for (const builder of ['buildkit', 'classic'] as const) {
      const afterTestrunner: number[] = [];
      const coldFinal: number[] = [];
      const coldTestrunner: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        coldTestrunner.push(await seconds(() => build(builder, 'testrunner', true)));
        afterTestrunner.push(await seconds(() => build(builder, '', false)));
        coldFinal.push(await seconds(() => build(builder, '', true)));
      }
      const warm = median(afterTestrunner);
      const fresh = median(coldFinal);
      const runner = median(coldTestrunner);
      rows.push(
        `| ${builder} | ${runner.toFixed(3)} | ${warm.toFixed(3)} | ${fresh.toFixed(3)} | ${(warm / fresh).toFixed(3)}x | ${((runner + warm) / (runner + fresh)).toFixed(3)}x |`,
      );
    }
  } finally {
    await removeTestImages(docker, { onlyThisRun: true });
    for (const image of await docker.listImages({ filters: { dangling: ['true'] } })) {
      if (!danglingBefore.has(image.Id))
        await docker
          .getImage(image.Id)
          .remove()
          .catch(() => undefined);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`sample service + 32 MB asset, median of ${RUNS} rounds (seconds)`);
  console.log('| builder | testrunner cold | final after testrunner | final cold | final: after/cold | both: reuse/two cold |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const row of rows) console.log(row);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
