import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { buildImage, BuildError, ociLabels, type BuilderChoice } from '../../shared/src/docker/build';
import { memoryLog } from '../../shared/src/log';
import { stageSampleService } from '../fixtures/sample-service/stage';
import { pushImageWithEngine, removeTestImages, requireEngine, TEST_LABEL, TEST_RUN_ID, TEST_RUN_LABEL } from '../support/engine';
import { DEFAULT_USERS, requireRegistry, sharedRegistry, type TestRegistry } from '../support/registries';

const labels = { [TEST_LABEL]: '1', [TEST_RUN_LABEL]: TEST_RUN_ID };
const dockerConfigDir = path.join(os.homedir(), '.docker');

function snapshot(dir: string): string {
  if (!fs.existsSync(dir)) return '(absent)';
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((d) => {
      const file = path.join(d.parentPath, d.name);
      return `${file}:${d.isFile() ? fs.readFileSync(file, 'utf8') : ''}`;
    })
    .sort()
    .join('\n');
}

describe('docker engine: buildImage (integration)', function () {
  let docker: Dockerode;
  let sample: string;
  let dockerConfigBefore: string;

  before(async function () {
    docker = await requireEngine(this);
    sample = stageSampleService();
    dockerConfigBefore = snapshot(dockerConfigDir);
  });

  after(async () => {
    if (sample) fs.rmSync(sample, { recursive: true, force: true });
    if (docker) await removeTestImages(docker, { onlyThisRun: true });
  });

  for (const builder of ['buildkit', 'classic'] as const) {
    describe(`with ${builder === 'buildkit' ? 'BuildKit' : 'the classic builder'}`, () => {
      const name = (what: string) => `outerloop-test/sample-${what}:${builder}-${TEST_RUN_ID}`;

      it('builds the testrunner stage with labels, streams its output and returns the image id', async () => {
        const log = memoryLog();
        const created = new Date('2026-01-02T03:04:05Z');
        const result = await buildImage(
          docker,
          {
            dockerfile: path.join(sample, 'Dockerfile'),
            context: sample,
            target: 'testrunner',
            imageName: name('testrunner'),
            builder,
            buildArgs: { SERVICE_VERSION: '1.2.3' },
            labels: {
              ...labels,
              ...ociLabels({ revision: 'abc123', source: 'https://example.test/repo', version: '20260102.1', created }),
            },
          },
          log,
        );
        assert.equal(result.builder, builder);
        const image = await docker.getImage(name('testrunner')).inspect();
        assert.equal(result.imageId, image.Id);
        assert.equal(image.Config.Labels['org.opencontainers.image.revision'], 'abc123');
        assert.equal(image.Config.Labels['org.opencontainers.image.created'], '2026-01-02T03:04:05.000Z');
        assert.equal(image.Config.Labels[TEST_RUN_LABEL], TEST_RUN_ID);
        assert.deepEqual(image.Config.Cmd, ['sh', '/src/tests/run-tests.sh']);
        const text = log.lines.join('\n');
        // BuildKit names the step with its build arguments expanded.
        if (builder === 'buildkit') assert.match(text, /^#\d+ \[build \d\/\d\] RUN sh src\/build\.sh "1\.2\.3"$/m);
        else assert.match(text, /^Step \d+\/\d+ : RUN sh src\/build\.sh "\$SERVICE_VERSION"$/m);
      });

      it('builds the last stage (final) when the target is empty, reusing the cache of the shared stages', async () => {
        const log = memoryLog();
        await buildImage(
          docker,
          {
            dockerfile: path.join(sample, 'Dockerfile'),
            context: sample,
            target: '',
            imageName: name('final'),
            builder,
            buildArgs: { SERVICE_VERSION: '1.2.3' },
            labels,
          },
          log,
        );
        const image = await docker.getImage(name('final')).inspect();
        assert.deepEqual(image.Config.Entrypoint, ['/app/bin/greet']);
        const text = log.lines.join('\n');
        if (builder === 'buildkit') {
          const busybox = /^#(\d+) \[base 2\/2\] RUN \["\/bin\/busybox", "--install", "-s", "\/bin"\]$/m.exec(text);
          assert.ok(busybox, text);
          assert.match(text, new RegExp(`^#${busybox[1]} CACHED$`, 'm'));
        } else {
          assert.match(text, /Step 3\/\d+ : RUN \["\/bin\/busybox", "--install", "-s", "\/bin"\]\n ---> Using cache/);
        }
      });

      it('ends a failing RUN with one line naming the step and its last output', async () => {
        fs.writeFileSync(
          path.join(sample, 'Broken.Dockerfile'),
          'FROM scratch AS base\nCOPY busybox /bin/busybox\nFROM base AS testrunner\nRUN ["/bin/busybox", "sh", "-c", "echo compiling; echo error: missing semicolon >&2; exit 3"]\n',
        );
        const error = await buildImage(
          docker,
          {
            dockerfile: path.join(sample, 'Broken.Dockerfile'),
            context: sample,
            target: 'testrunner',
            imageName: name('broken'),
            builder,
            labels,
          },
          memoryLog(),
        ).then(
          () => assert.fail('the build succeeded'),
          (e: unknown) => e as Error,
        );
        assert.ok(error instanceof BuildError);
        assert.doesNotMatch(error.message, /\n/);
        assert.match(
          error.message,
          /^build failed at .*RUN \["\/bin\/busybox", "sh", "-c", "echo compiling; .*exit 3"\]: .*(exit code: 3|non-zero code: 3)/,
        );
        // The classic builder may deliver the step's stderr before its stdout.
        const tail = /; last output: (.*)$/.exec(error.message)?.[1].split(' | ') ?? [];
        assert.deepEqual(tail.sort(), ['compiling', 'error: missing semicolon']);
        const containers = await docker.listContainers({ all: true, filters: { ancestor: ['outerloop-test/sample-broken'] } });
        assert.deepEqual(containers, [], 'the failed step left no container');
      });

      it('runs build steps in the network asked for', async () => {
        fs.writeFileSync(
          path.join(sample, 'Net.Dockerfile'),
          'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo interfaces: $(/bin/busybox ls /sys/class/net)"]\n',
        );
        const interfaces = async (network: string) => {
          const log = memoryLog();
          await buildImage(
            docker,
            {
              dockerfile: path.join(sample, 'Net.Dockerfile'),
              context: sample,
              imageName: name('net'),
              builder,
              labels,
              network,
              noCache: true,
            },
            log,
          );
          // The step's output line, not the step's own name (which contains the command).
          const line = log.lines.map((l) => /^(?:#\d+ \d+\.\d+ )?interfaces: (.*)$/.exec(l)).find(Boolean);
          assert.ok(line, log.lines.join('\n'));
          return line[1].trim().split(/\s+/).sort();
        };
        assert.deepEqual(await interfaces('none'), ['lo']);
        const host = fs.readdirSync('/sys/class/net').sort();
        assert.deepEqual(await interfaces('host'), host);
      });

      it('names an unknown target stage and a missing Dockerfile in one line each', async () => {
        await assert.rejects(
          buildImage(
            docker,
            { dockerfile: path.join(sample, 'Dockerfile'), context: sample, target: 'tests', imageName: name('x'), builder, labels },
            memoryLog(),
          ),
          (e: Error) =>
            e instanceof BuildError &&
            e.message ===
              `Dockerfile '${path.join(sample, 'Dockerfile')}' has no stage named 'tests' (its stages: base, build, testrunner, final)`,
        );
        await assert.rejects(
          buildImage(
            docker,
            { dockerfile: path.join(sample, 'Nope.Dockerfile'), context: sample, imageName: name('x'), builder, labels },
            memoryLog(),
          ),
          (e: Error) => e instanceof BuildError && e.message === `Dockerfile '${path.join(sample, 'Nope.Dockerfile')}' does not exist`,
        );
      });
    });
  }

  it("picks BuildKit on this engine when the builder is 'auto'", async () => {
    const result = await buildImage(
      docker,
      {
        dockerfile: path.join(sample, 'Dockerfile'),
        context: sample,
        target: 'base',
        imageName: `outerloop-test/sample-base:auto-${TEST_RUN_ID}`,
        labels,
      },
      memoryLog(),
    );
    assert.equal(result.builder, 'buildkit');
  });

  it('refuses a network BuildKit cannot run steps in, naming the way out', async () => {
    await assert.rejects(
      buildImage(
        docker,
        {
          dockerfile: path.join(sample, 'Dockerfile'),
          context: sample,
          imageName: `outerloop-test/x:${TEST_RUN_ID}`,
          builder: 'buildkit',
          network: 'my-net',
          labels,
        },
        memoryLog(),
      ),
      (e: Error) =>
        e instanceof BuildError &&
        e.message ===
          "BuildKit runs build steps only in network 'default', 'host' or 'none', not 'my-net': use builder 'classic' for other networks",
    );
  });

  describe('a private base image (FROM an image in an htpasswd registry)', () => {
    let registry: TestRegistry;
    let base: string;

    before(async function () {
      requireRegistry(this);
      registry = await sharedRegistry('htpasswd');
      const user = registry.users[0];
      base = `${registry.host}/outerloop-test/private-base:${TEST_RUN_ID}`;
      await buildImage(
        docker,
        { dockerfile: path.join(sample, 'Dockerfile'), context: sample, target: 'base', imageName: base, builder: 'classic', labels },
        memoryLog(),
      );
      await pushImageWithEngine(docker, base, user);
      await docker.getImage(base).remove();
      fs.writeFileSync(path.join(sample, 'Private.Dockerfile'), `FROM ${base} AS testrunner\nRUN echo built on the private base\n`);
    });

    for (const builder of ['buildkit', 'classic'] as BuilderChoice[]) {
      it(`pulls it with the connection's credentials, per call, with ${builder} (none written to ~/.docker)`, async () => {
        const log = memoryLog();
        const user = registry.users[0];
        await buildImage(
          docker,
          {
            dockerfile: path.join(sample, 'Private.Dockerfile'),
            context: sample,
            imageName: `outerloop-test/on-private-base:${builder}-${TEST_RUN_ID}`,
            builder,
            labels,
            noCache: true,
            pull: true,
            logins: [{ host: registry.host, credentials: { username: user.username, password: user.password } }],
          },
          log,
        );
        assert.ok(
          log.lines.some((l) => /built on the private base/.test(l)),
          log.lines.join('\n'),
        );
        const printed = log.lines.join('\n');
        assert.ok(
          registry.secrets().length >= 2 * DEFAULT_USERS.htpasswd.length,
          'each user gives a password and a basic token to look for',
        );
        for (const secret of registry.secrets()) assert.ok(!printed.includes(secret), 'a secret reached the log');
        assert.equal(snapshot(dockerConfigDir), dockerConfigBefore);
        if (builder === 'classic')
          await docker
            .getImage(base)
            .remove()
            .catch(() => undefined);
      });

      it(`fails in one line without credentials, with ${builder}`, async () => {
        await assert.rejects(
          buildImage(
            docker,
            {
              dockerfile: path.join(sample, 'Private.Dockerfile'),
              context: sample,
              imageName: `outerloop-test/on-private-base:anon-${TEST_RUN_ID}`,
              builder,
              labels,
              noCache: true,
              pull: true,
            },
            memoryLog(),
          ),
          (e: Error) =>
            e instanceof BuildError &&
            !e.message.includes('\n') &&
            /401|unauthorized|no basic auth credentials|authentication required/i.test(e.message),
        );
      });
    }
  });
});
