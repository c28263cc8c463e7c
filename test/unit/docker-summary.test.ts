import { strict as assert } from 'node:assert';
import { buildSummary, pushSummary, runSummary } from '../../shared/src/docker/summary';
import type { TestRunResult } from '../../shared/src/docker/run';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('docker summaries: what each verb did, for the run summary page', () => {
  it('build: image id and name, stage, builder, cache, duration and labels, every value shown as written', () => {
    const md = buildSummary(
      {
        imageId: DIGEST,
        imageName: 'app-testrunner:42',
        builder: 'buildkit',
        steps: { total: 5, cached: 3 },
        durationMs: 61_000,
      },
      {
        dockerfile: '/src/Dockerfile',
        target: 'testrunner',
        labels: { 'org.opencontainers.image.revision': 'f00d', note: 'a | b `c` <i>x</i>' },
      },
    );
    assert.ok(md.startsWith('Built `app-testrunner:42`'), md);
    for (const row of [
      `| Image ID | \`${DIGEST}\` |`,
      '| Stage | `testrunner` |',
      '| Builder | BuildKit |',
      '| Cache | 3 of 5 steps from the cache |',
      '| Duration | 1 min 1 s |',
      '| `org.opencontainers.image.revision` | `f00d` |',
      '| `note` | ``a \\| b `c` <i>x</i>`` |',
    ]) {
      assert.ok(md.split('\n').includes(row), `${row}\n${md}`);
    }
  });

  it('build: the last stage, the classic builder, no labels section without labels', () => {
    const md = buildSummary(
      { imageId: DIGEST, imageName: 'a:1', builder: 'classic', steps: { total: 1, cached: 0 }, durationMs: 5 },
      { dockerfile: '/Dockerfile' },
    );
    assert.ok(md.includes('| Stage | the last stage |'));
    assert.ok(md.includes('| Builder | classic builder |'));
    assert.ok(md.includes('| Cache | 0 of 1 step from the cache |'));
    assert.ok(!md.includes('### Labels'));
  });

  const run = (over: Partial<TestRunResult>): TestRunResult => ({
    outcome: 'passed',
    exitCode: 0,
    resultsDirectory: '/agent/TestResults',
    resultFiles: ['junit.xml', 'results.trx'],
    message: 'the tests passed',
    ...over,
  });

  it('run: a test failure is told apart from an infrastructure failure', () => {
    const failed = runSummary(run({ outcome: 'testsFailed', exitCode: 1, message: 'tests failed' }), {
      image: 'app:1',
      command: ['sh', '-c', 'exit 1'],
    });
    assert.match(
      failed,
      /^\*\*Tests failed\*\*: the runner ran and exited with code 1; this is a test failure, not an infrastructure failure\./,
    );
    assert.ok(failed.includes('| Exit code | 1 |'));
    assert.ok(failed.includes('| Command | `sh -c exit 1` |'));
    assert.ok(failed.includes('| Results | 2 files copied from `/tests/TestResults` to `/agent/TestResults` |'), failed);
    assert.ok(failed.includes('| `junit.xml` |') && failed.includes('| `results.trx` |'));

    const couldNot = runSummary(
      run({
        outcome: 'couldNotRun',
        exitCode: undefined,
        resultFiles: [],
        message: 'could not run the tests: the tests did not finish within 3 seconds',
      }),
      { image: 'app:1', resultsPath: '/out' },
    );
    assert.match(
      couldNot,
      /^\*\*Could not run\*\*: an infrastructure failure, not a test result: the tests did not finish within 3 seconds\n/,
    );
    assert.ok(couldNot.includes('| Exit code | none (the runner did not finish on its own) |'));
    assert.ok(couldNot.includes("| Command | the image's own |"));
    assert.ok(couldNot.includes('| Results | none copied from `/out` |'));
    assert.ok(!couldNot.includes('### Result files'));

    const blamed = runSummary(
      run({
        outcome: 'couldNotRun',
        exitCode: 0,
        resultFiles: [],
        message: 'could not run the tests: the runner exited with code 0 and left no result files in /out',
        blame: { option: 'resultsPath', problem: "is '/out', which the container does not have after the run" },
      }),
      { image: 'app:1', resultsPath: '/out' },
    );
    assert.match(blamed, /^\*\*Could not run\*\*: `resultsPath` is '\/out', which the container does not have after the run\n/);
    assert.ok(blamed.includes('| Exit code | 0 |'));
  });

  it('run: names the first 20 result files and counts the rest', () => {
    const files = Array.from({ length: 25 }, (_, i) => `r${i}.xml`);
    const md = runSummary(run({ resultFiles: files }), { image: 'app:1' });
    assert.match(md, /^\*\*Passed\*\*/);
    assert.ok(md.includes('### Result files (first 20 of 25)'));
    assert.ok(md.includes('| `r19.xml` |') && !md.includes('| `r20.xml` |'));
  });

  const pushed = (repository: string) => ({
    digest: DIGEST,
    pinnedImage: `${repository}@${DIGEST}`,
    imageTags: [`${repository}:1.4.0`, `${repository}:latest`],
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
  });

  it('push: repository, tags, digest, pinned reference, lock file and artifact', () => {
    const repository = 'registry.example.test:5000/team/app';
    const md = pushSummary(pushed(repository), { repository, lockFile: '/a/image-lock.json', artifactName: 'image-lock' });
    for (const row of [
      `| Repository | \`${repository}\` |`,
      `| Tags | \`${repository}:1.4.0\`, \`${repository}:latest\` |`,
      `| Digest | \`${DIGEST}\` |`,
      `| Pinned reference | \`${repository}@${DIGEST}\` |`,
      '| Lock file | `/a/image-lock.json` |',
      '| Artifact | `image-lock` |',
    ]) {
      assert.ok(md.split('\n').includes(row), `${row}\n${md}`);
    }
    assert.ok(!md.includes('](') && !md.includes('docker pull'), 'nothing more is derivable for another registry');
    const noArtifact = pushSummary(pushed(repository), { repository, lockFile: '/a/l.json' });
    assert.ok(
      noArtifact.includes('| Artifact | not published (publishLockArtifact is false, or a classic release, which takes no artifacts) |'),
    );
  });

  it('push: a Docker Hub repository links to its tags page', () => {
    const md = pushSummary(pushed('docker.io/team/app'), { repository: 'docker.io/team/app', lockFile: '/l.json' });
    assert.ok(md.includes('[team/app on Docker Hub](https://hub.docker.com/r/team/app/tags)'), md);
  });

  it('push: an Azure Container Registry repository gets the pull command, nothing derived from a subscription', () => {
    const repository = 'contoso.azurecr.io/team/app';
    const md = pushSummary(pushed(repository), { repository, lockFile: '/l.json' });
    assert.ok(md.includes(`\`\`\`sh\ndocker pull ${repository}@${DIGEST}\n\`\`\``), md);
    assert.ok(!md.includes(']('), 'no link');
  });
});
