// Issue 8, item 4: the tasks find the engine where the docker CLI finds it. The bundled BuildTestRunner,
// RunContainerTests and PushImageByDigest build, run and push against the real engine reached over TCP with TLS
// (a Node TLS relay in front of /var/run/docker.sock that requires a client certificate), named first by
// DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH, then by a docker context in a DOCKER_CONFIG folder; and over
// SSH (a real sshd on loopback, test/support/sshd.ts, the key in an ssh-agent at SSH_AUTH_SOCK), named by
// DOCKER_HOST=ssh://… and by a docker context whose Host is ssh://…, the way the docker CLI reaches a remote engine:
// `docker system dial-stdio` run on the engine's host, once the host's key is found in known_hosts (the task's HOME
// holds a ~/.ssh/known_hosts for sshd's key, as a step before it would write with ssh-keyscan).
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { contextId } from '../../shared/src/docker/endpoint';
import { stageSampleService } from '../fixtures/sample-service/stage';
import {
  buildBusyboxImage,
  pushPrivateBaseImage,
  removeTestContainers,
  removeTestImages,
  requireEngine,
  TEST_LABEL,
  TEST_RUN_ID,
  TEST_RUN_LABEL,
} from '../support/engine';
import {
  assertFailedCleanly,
  assertNoSecrets,
  bundleOnce,
  describeRun,
  dockerConfigSnapshot,
  escapeRegExp,
  registryEndpoint,
  runBundledTask,
  type RunOptions,
  type TaskRun,
} from '../support/harness';
import { fetchManifest } from '../support/images';
import { requireRegistry, sharedRegistry, type TestRegistry } from '../support/registries';
import {
  makeTestCertificates,
  requireOpenssl,
  startTlsRelay,
  writeDockerContext,
  type TestCertificates,
  type TlsRelay,
} from '../support/tls-relay';
import { ACCEPTED_KEY, homeWith, makeTestKey, requireSshd, startSshAgent, startSshd, type TestSshd } from '../support/sshd';

const TEST_LABELS = `${TEST_LABEL}=1\n${TEST_RUN_LABEL}=${TEST_RUN_ID}`;
const CONTEXT = 'remote-tls';
const SSH_CONTEXT = 'remote-ssh';

/** Unsets what the test process may have, so only the variables a case gives choose the engine. */
const NO_ENGINE_SETTINGS = { DOCKER_HOST: '', DOCKER_CONTEXT: '', DOCKER_TLS: '', DOCKER_TLS_VERIFY: '', DOCKER_CERT_PATH: '' };

/** Runs a bundled task and keeps its agent folder in `folders`, which the suite removes after it. */
async function runKeepingFolder(folders: string[], task: string, options: RunOptions): Promise<TaskRun> {
  const run = await runBundledTask(task, options);
  folders.push(run.tempDirectory);
  return run;
}

/** A PEM private key's base64 body: no output or leftover file may contain any of it. */
function pemBody(pem: string): string {
  return pem
    .split('\n')
    .filter((line) => line && !line.startsWith('-----'))
    .join('');
}

/**
 * Builds the sample's base stage as a private image in `registry` (pushed, then removed from the engine) and writes
 * Remote.Dockerfile in `sample`, which builds the test runner FROM it: a BuildKit build of it asks its session for the
 * registry's credentials.
 */
async function writeRemoteDockerfile(docker: Dockerode, registry: TestRegistry, sample: string, name: string): Promise<void> {
  const base = await pushPrivateBaseImage(docker, sample, registry, `remote-engine/${name}`);
  fs.writeFileSync(
    path.join(sample, 'Remote.Dockerfile'),
    `FROM ${base} AS build\nCOPY tests/ /src/tests/\nCOPY src/ /src/src/\nRUN sh /src/src/build.sh remote\nFROM build AS testrunner\nCMD ["sh", "/src/tests/run-tests.sh"]\n`,
  );
}

/** One way a section names the remote engine: the describe title, the image's tag, the environment that names it. */
interface EngineWay {
  name: string;
  tag: string;
  env: () => Record<string, string>;
}

/** What a section's `before` hook has set up by the time its cases run. */
interface RemoteEngineSuite {
  docker: Dockerode;
  registry: TestRegistry;
  sample: string;
  dockerConfigBefore: string;
  /** What no output or leftover file may contain. */
  secrets: () => string[];
}

/**
 * For each way of naming the engine, the three tasks in turn, each through `run` (which also proves the traffic took
 * the section's route): BuildTestRunner builds Remote.Dockerfile with BuildKit, RunContainerTests runs that image,
 * PushImageByDigest pushes it to `repository` in the registry.
 */
function itBuildsRunsAndPushes(transport: {
  /** What the BuildKit session is hijacked over, as the title says it: 'the TLS connection'. */
  route: string;
  /** Whom the engine was reached through, as the image check says it: 'the relay'. */
  reachedThrough: string;
  repository: string;
  ways: EngineWay[];
  run: (task: string, options: RunOptions) => Promise<TaskRun>;
  suite: () => RemoteEngineSuite;
}): void {
  const { route, reachedThrough, repository, run: runTask, suite } = transport;
  for (const way of transport.ways) {
    describe(way.name, () => {
      const image = `outerloop-test/remote-engine-runner:${way.tag}`;

      it(`BuildTestRunner builds with BuildKit, its session answering for the private base image over ${route}`, async () => {
        const { docker, registry, sample, secrets } = suite();
        const run = await runTask('BuildTestRunner', {
          inputs: {
            dockerfile: 'Remote.Dockerfile',
            imageName: image,
            labels: TEST_LABELS,
            containerRegistry: 'reg',
            pull: 'true',
            builder: 'buildkit',
            noCache: 'true',
          },
          endpoints: [registryEndpoint('reg', registry.url, registry.users[0])],
          variables: { 'System.DefaultWorkingDirectory': sample },
          env: way.env(),
        });
        assert.equal(run.result, 'Succeeded', describeRun(run));
        assert.equal(run.outputs.imageName, image);
        assert.equal(
          run.outputs.imageId,
          (await docker.getImage(image).inspect()).Id,
          `the same engine, reached through ${reachedThrough}`,
        );
        assert.ok(
          run.lines.some((line) => line.includes('built delivery remote')),
          describeRun(run),
        );
        assertNoSecrets(run, secrets());
      });

      it('RunContainerTests runs the tests in it and copies the results out', async () => {
        const { docker } = suite();
        const run = await runTask('RunContainerTests', { inputs: { image, network: 'none' }, env: way.env() });
        assert.equal(run.result, 'Succeeded', describeRun(run));
        assert.deepEqual(run.outputs, { exitCode: '0', resultsDirectory: path.join(run.tempDirectory, 'TestResults'), resultFiles: '2' });
        assert.match(
          fs.readFileSync(path.join(run.outputs.resultsDirectory, 'junit.xml'), 'utf8'),
          /<testsuite name="SampleService.Greet" tests="4" failures="0"/,
        );
        const left = await docker.listContainers({ all: true, filters: { ancestor: [image] } });
        assert.deepEqual(left, [], 'the test container was removed');
      });

      it('PushImageByDigest pushes it to the registry, the digest confirmed by the registry', async () => {
        const { registry, dockerConfigBefore, secrets } = suite();
        const run = await runTask('PushImageByDigest', {
          inputs: { sourceImage: image, repository: `${registry.host}/${repository}`, tags: way.tag, containerRegistry: 'reg' },
          endpoints: [registryEndpoint('reg', registry.url, registry.users[0])],
          env: way.env(),
        });
        assert.equal(run.result, 'Succeeded', describeRun(run));
        assert.match(run.outputs.digest, /^sha256:[a-f0-9]{64}$/);
        const head = await fetchManifest(registry, repository, way.tag, registry.users[0]);
        assert.equal(head.digest, run.outputs.digest);
        assertNoSecrets(run, secrets());
        assert.equal(dockerConfigSnapshot(), dockerConfigBefore, '~/.docker changed');
      });
    });
  }
}

describe('the tasks reach the engine where the docker CLI finds it: tcp:// with TLS, and a docker context (real engine through a TLS relay)', function () {
  let docker: Dockerode;
  let certs: TestCertificates;
  let relay: TlsRelay;
  let registry: TestRegistry;
  let sample: string;
  let work: string;
  let contextConfig: string;
  let dockerConfigBefore: string;
  const agentFolders: string[] = [];

  before(async function () {
    docker = await requireEngine(this);
    requireOpenssl(this);
    requireRegistry(this);
    await bundleOnce();
    certs = makeTestCertificates();
    relay = await startTlsRelay(certs);
    registry = await sharedRegistry('htpasswd');
    sample = stageSampleService();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-remote-engine-'));
    // A docker context as `docker context create remote-tls --docker host=tcp://…,ca=…,cert=…,key=…` + `docker
    // context use remote-tls` leave it, in a config folder of its own.
    contextConfig = path.join(work, 'docker-config');
    writeDockerContext(contextConfig, {
      name: CONTEXT,
      host: relay.url,
      tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      current: true,
    });
    // A private base image, so the BuildKit build asks its session (hijacked over the TLS connection) for credentials.
    await writeRemoteDockerfile(docker, registry, sample, 'private-base');
    dockerConfigBefore = dockerConfigSnapshot();
  });

  after(async () => {
    await relay?.stop();
    if (docker) {
      await removeTestContainers(docker, { onlyThisRun: true });
      await removeTestImages(docker, { onlyThisRun: true });
    }
    certs?.remove();
    for (const dir of [sample, work, ...agentFolders]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs a bundled task and checks its traffic to the engine went through the relay. */
  async function runThroughRelay(task: string, options: RunOptions): Promise<TaskRun> {
    const before = relay.connections;
    const run = await runKeepingFolder(agentFolders, task, options);
    assert.ok(relay.connections > before, `${task} made no connection through the TLS relay\n${describeRun(run)}`);
    return run;
  }

  /** What no output or leftover file may contain: the registry's secrets and the client's private key. */
  const secrets = () => [...registry.secrets(), pemBody(certs.clientKey.toString('utf8'))];

  const ways = [
    {
      name: 'DOCKER_HOST=tcp://127.0.0.1:<relay> with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH',
      tag: `host-${TEST_RUN_ID}`,
      env: () => ({ ...NO_ENGINE_SETTINGS, DOCKER_HOST: relay.url, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs.clientDir }),
    },
    {
      name: `docker context '${CONTEXT}' (currentContext in DOCKER_CONFIG/config.json, TLS files in the context store)`,
      tag: `context-${TEST_RUN_ID}`,
      env: () => ({ ...NO_ENGINE_SETTINGS, DOCKER_CONFIG: contextConfig }),
    },
  ];

  itBuildsRunsAndPushes({
    route: 'the TLS connection',
    reachedThrough: 'the relay',
    repository: 'remote-engine/runner',
    ways,
    run: runThroughRelay,
    suite: () => ({ docker, registry, sample, dockerConfigBefore, secrets }),
  });

  describe('when the engine cannot be reached or the settings are wrong: one Failed line naming where the tasks looked', () => {
    let stopped: TlsRelay;
    let stoppedConfig: string;

    before(async () => {
      stopped = await startTlsRelay(certs);
      await stopped.stop();
      stoppedConfig = path.join(work, 'stopped-config');
      writeDockerContext(stoppedConfig, {
        name: 'gone-engine',
        host: stopped.url,
        tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
        current: true,
      });
    });

    it('DOCKER_HOST at a stopped relay: BuildTestRunner names DOCKER_HOST and the address', async () => {
      const run = await runKeepingFolder(agentFolders, 'BuildTestRunner', {
        inputs: { dockerfile: 'Remote.Dockerfile', imageName: `outerloop-test/never:${TEST_RUN_ID}` },
        variables: { 'System.DefaultWorkingDirectory': sample },
        env: { ...NO_ENGINE_SETTINGS, DOCKER_HOST: stopped.url, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs.clientDir },
      });
      assertFailedCleanly(
        run,
        new RegExp(
          `^the Docker engine at ${stopped.url} \\(from DOCKER_HOST, TLS with the files in ${certs.clientDir}\\) is not reachable \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${stopped.port}\\): is it running, and may this agent use it\\?$`,
        ),
      );
    });

    it('a docker context at a stopped relay: RunContainerTests and PushImageByDigest name the context and its file', async () => {
      const meta = path.join(stoppedConfig, 'contexts', 'meta', contextId('gone-engine'), 'meta.json');
      const origin = `from docker context 'gone-engine', named by currentContext in ${stoppedConfig}/config.json, in ${meta}`;
      const env = { ...NO_ENGINE_SETTINGS, DOCKER_CONFIG: stoppedConfig };
      const run = await runKeepingFolder(agentFolders, 'RunContainerTests', {
        inputs: { image: 'outerloop-test/never:1', network: 'none' },
        env,
      });
      assertFailedCleanly(
        run,
        /^could not run the tests: the Docker engine at tcp:\/\/127\.0\.0\.1:\d+ \(from docker context 'gone-engine'/,
      );
      assert.ok(run.message.includes(`(${origin}, TLS with the files in `), run.message);
      assert.match(run.message, /is not reachable \(connect ECONNREFUSED /);
      const push = await runKeepingFolder(agentFolders, 'PushImageByDigest', {
        inputs: { sourceImage: 'outerloop-test/never:1', repository: `${registry.host}/remote-engine/never` },
        env,
      });
      assertFailedCleanly(
        push,
        /the Docker engine at tcp:\/\/127\.0\.0\.1:\d+ \(from docker context 'gone-engine', .*\) is not reachable \(connect ECONNREFUSED /,
      );
    });

    it('a context that does not exist, and a malformed meta.json: the context and the file, in one line', async () => {
      const run = await runKeepingFolder(agentFolders, 'RunContainerTests', {
        inputs: { image: 'outerloop-test/never:1' },
        env: { ...NO_ENGINE_SETTINGS, DOCKER_CONFIG: contextConfig, DOCKER_CONTEXT: 'nowhere' },
      });
      const missing = path.join(contextConfig, 'contexts', 'meta', contextId('nowhere'), 'meta.json');
      assertFailedCleanly(
        run,
        new RegExp(`docker context 'nowhere' \\(named by DOCKER_CONTEXT\\) does not exist: there is no ${missing}; create it`),
      );

      const broken = path.join(work, 'broken-config');
      writeDockerContext(broken, { name: 'broken', host: relay.url, current: true });
      const meta = path.join(broken, 'contexts', 'meta', contextId('broken'), 'meta.json');
      fs.writeFileSync(meta, '{"Name":"broken","Endpoints":{"docker":');
      const build = await runKeepingFolder(agentFolders, 'BuildTestRunner', {
        inputs: { dockerfile: 'Remote.Dockerfile', imageName: `outerloop-test/never:${TEST_RUN_ID}` },
        variables: { 'System.DefaultWorkingDirectory': sample },
        env: { ...NO_ENGINE_SETTINGS, DOCKER_CONFIG: broken },
      });
      assertFailedCleanly(
        build,
        new RegExp(`^docker context 'broken' \\(named by currentContext in ${broken}/config\\.json\\): ${meta} is not valid JSON \\(`),
      );
    });

    it('a client without the certificate the engine requires: the TLS refusal, counted by the relay', async () => {
      const caOnly = path.join(work, 'ca-only');
      fs.mkdirSync(caOnly, { recursive: true });
      fs.copyFileSync(path.join(certs.clientDir, 'ca.pem'), path.join(caOnly, 'ca.pem'));
      const rejectedBefore = relay.rejected;
      const run = await runKeepingFolder(agentFolders, 'RunContainerTests', {
        inputs: { image: 'outerloop-test/never:1', network: 'none' },
        env: { ...NO_ENGINE_SETTINGS, DOCKER_HOST: relay.url, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: caOnly },
      });
      assertFailedCleanly(
        run,
        new RegExp(
          `^could not run the tests: the Docker engine at ${relay.url} \\(from DOCKER_HOST, TLS with the files in ${caOnly}\\) refused the TLS connection \\([^()]*certificate required\\): check the CA and the client certificate and key$`,
        ),
      );
      assert.ok(relay.rejected > rejectedBefore, 'the relay saw the handshake fail');
    });
  });
});

describe('the tasks reach the engine over ssh:// as the docker CLI does: `docker system dial-stdio` run through a real sshd, the key in an ssh-agent', function () {
  let docker: Dockerode;
  let sshd: TestSshd;
  let registry: TestRegistry;
  let sample: string;
  let work: string;
  let contextConfig: string;
  let dockerConfigBefore: string;
  /** A HOME whose ~/.ssh/known_hosts lists sshd's host key. */
  let trustedHome: string;
  const agentFolders: string[] = [];

  before(async function () {
    docker = await requireEngine(this);
    requireRegistry(this);
    requireSshd(this);
    await bundleOnce();
    sshd = await startSshd();
    registry = await sharedRegistry('htpasswd');
    sample = stageSampleService();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-remote-ssh-'));
    trustedHome = homeWith(work, [sshd.knownHostsLine()]);
    // As `docker context create remote-ssh --docker host=ssh://root@127.0.0.1:<port>` + `docker context use` leave it.
    contextConfig = path.join(work, 'docker-config');
    writeDockerContext(contextConfig, { name: SSH_CONTEXT, host: sshd.url, current: true });
    // A private base image, so the BuildKit build asks its session (hijacked over the SSH channel) for credentials.
    await writeRemoteDockerfile(docker, registry, sample, 'ssh-private-base');
    dockerConfigBefore = dockerConfigSnapshot();
  });

  after(async () => {
    await sshd?.stop();
    if (docker) {
      await removeTestContainers(docker, { onlyThisRun: true });
      await removeTestImages(docker, { onlyThisRun: true });
    }
    for (const dir of [sample, work, ...agentFolders]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs a bundled task and checks it logged in to sshd with the agent's key, and with no other. */
  async function runThroughSshd(task: string, options: RunOptions): Promise<TaskRun> {
    const from = sshd.log().length;
    const run = await runKeepingFolder(agentFolders, task, options);
    const accepted = await sshd.waitForLines(from, /^Accepted publickey /).catch((error: Error) => {
      throw new Error(`${task} made no SSH login: ${error.message}\n${describeRun(run)}`);
    });
    for (const line of accepted) assert.deepEqual(ACCEPTED_KEY.exec(line)?.slice(1), [sshd.user, sshd.agent.fingerprint], line);
    return run;
  }

  const ways = [
    {
      name: 'DOCKER_HOST=ssh://root@127.0.0.1:<sshd> with SSH_AUTH_SOCK',
      tag: `ssh-host-${TEST_RUN_ID}`,
      env: () => ({ ...NO_ENGINE_SETTINGS, DOCKER_HOST: sshd.url, SSH_AUTH_SOCK: sshd.agent.socket, HOME: trustedHome }),
    },
    {
      name: `docker context '${SSH_CONTEXT}' whose Host is ssh://root@127.0.0.1:<sshd>, with SSH_AUTH_SOCK`,
      tag: `ssh-context-${TEST_RUN_ID}`,
      env: () => ({ ...NO_ENGINE_SETTINGS, DOCKER_CONFIG: contextConfig, SSH_AUTH_SOCK: sshd.agent.socket, HOME: trustedHome }),
    },
  ];

  itBuildsRunsAndPushes({
    route: 'the SSH channel',
    reachedThrough: 'sshd',
    repository: 'remote-engine/ssh-runner',
    ways,
    run: runThroughSshd,
    suite: () => ({ docker, registry, sample, dockerConfigBefore, secrets: () => [...registry.secrets(), pemBody(sshd.agent.privateKey)] }),
  });

  describe('when sshd is not there or refuses the login: one Failed line naming where the tasks looked', () => {
    it('DOCKER_HOST at a stopped sshd: BuildTestRunner names DOCKER_HOST and the address', async function () {
      const stopped = await startSshd();
      await stopped.stop();
      const run = await runKeepingFolder(agentFolders, 'BuildTestRunner', {
        inputs: { dockerfile: 'Remote.Dockerfile', imageName: `outerloop-test/never:${TEST_RUN_ID}` },
        variables: { 'System.DefaultWorkingDirectory': sample },
        env: { ...NO_ENGINE_SETTINGS, DOCKER_HOST: stopped.url, SSH_AUTH_SOCK: sshd.agent.socket },
      });
      assertFailedCleanly(
        run,
        new RegExp(
          `^the Docker engine at ${stopped.url} \\(from DOCKER_HOST\\) is not reachable \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${stopped.port}\\): is it running, and may this agent use it\\?$`,
        ),
      );
    });

    it('an ssh-agent whose key sshd does not accept: the refused login, counted by sshd, and no key in any output', async () => {
      const strangerDir = fs.mkdtempSync(path.join(work, 'stranger-'));
      const stranger = await startSshAgent(strangerDir, 'stranger');
      try {
        const from = sshd.log().length;
        const run = await runKeepingFolder(agentFolders, 'RunContainerTests', {
          inputs: { image: 'outerloop-test/never:1', network: 'none' },
          env: { ...NO_ENGINE_SETTINGS, DOCKER_HOST: sshd.url, SSH_AUTH_SOCK: stranger.socket, HOME: trustedHome },
        });
        assert.equal(
          run.message,
          `could not run the tests: the Docker engine at ${sshd.url} (from DOCKER_HOST) refused the SSH login as ${sshd.user} (All configured authentication methods failed): add a key it accepts for ${sshd.user} to the ssh-agent at SSH_AUTH_SOCK ${stranger.socket}`,
        );
        assertFailedCleanly(run, /^could not run the tests: /);
        const refused = await sshd.waitForLines(from, new RegExp(`^Failed publickey for ${sshd.user} from 127\\.0\\.0\\.1 `));
        assert.ok(
          refused.every((line) => line.endsWith(stranger.fingerprint)),
          refused.join('\n'),
        );
        assert.doesNotMatch(sshd.log().slice(from), /^Accepted /m, 'sshd let no one in');
        assertNoSecrets(run, [pemBody(stranger.privateKey), pemBody(sshd.agent.privateKey)]);
      } finally {
        await stranger.stop();
      }
    });

    it('no SSH_AUTH_SOCK: the refused login, and that the key must be in an ssh-agent', async () => {
      const run = await runKeepingFolder(agentFolders, 'PushImageByDigest', {
        inputs: { sourceImage: 'outerloop-test/never:1', repository: `${registry.host}/remote-engine/never` },
        env: { ...NO_ENGINE_SETTINGS, DOCKER_HOST: sshd.url, SSH_AUTH_SOCK: '', HOME: trustedHome },
      });
      assertFailedCleanly(
        run,
        new RegExp(
          `^the Docker engine at ${sshd.url} \\(from DOCKER_HOST\\) refused the SSH login as ${sshd.user} \\(All configured authentication methods failed\\): SSH_AUTH_SOCK is not set, and the tasks log in to an ssh:// engine only with the keys of an ssh-agent: `,
        ),
      );
    });

    it('a host where `docker` is not on the PATH of SSH sessions: the login worked, `docker system dial-stdio` did not', async () => {
      const noCli = await startSshd({ extraConfig: ['SetEnv PATH=/nonexistent'] });
      try {
        const from = noCli.log().length;
        const run = await runKeepingFolder(agentFolders, 'RunContainerTests', {
          inputs: { image: 'outerloop-test/never:1', network: 'none' },
          env: {
            ...NO_ENGINE_SETTINGS,
            DOCKER_HOST: noCli.url,
            SSH_AUTH_SOCK: noCli.agent.socket,
            HOME: homeWith(work, [noCli.knownHostsLine()]),
          },
        });
        assertFailedCleanly(
          run,
          new RegExp(
            `^could not run the tests: the Docker engine at ${noCli.url} \\(from DOCKER_HOST\\) is not reachable \\(socket hang up\\): the SSH login worked, but 'docker system dial-stdio' did not connect there: does that host have the docker CLI \\(18\\.09 or later\\) and a running engine the SSH user may use\\?$`,
          ),
        );
        await noCli.waitForLines(from, /^Accepted publickey /);
      } finally {
        await noCli.stop();
      }
    });
  });

  it('DOCKER_HOST=ssh://127.0.0.1:<sshd>, without a user: the tasks log in as the local user, as ssh does', async () => {
    const from = sshd.log().length;
    const run = await runKeepingFolder(agentFolders, 'RunContainerTests', {
      inputs: { image: `outerloop-test/never:${TEST_RUN_ID}`, network: 'none' },
      env: { ...NO_ENGINE_SETTINGS, DOCKER_HOST: `ssh://127.0.0.1:${sshd.port}`, SSH_AUTH_SOCK: sshd.agent.socket, HOME: trustedHome },
    });
    // The engine answered through sshd: the image is not there.
    assertFailedCleanly(run, /^input 'image' is 'outerloop-test\/never:[^']+', which is not on the engine: /);
    const accepted = await sshd.waitForLines(from, /^Accepted publickey /);
    assert.deepEqual(ACCEPTED_KEY.exec(accepted[0])?.slice(1), [os.userInfo().username, sshd.agent.fingerprint]);
  });

  describe("the host's key: checked against ~/.ssh/known_hosts (HOME) and the system's file, as ssh does, before any login", () => {
    let image: string;

    before(async () => {
      image = `outerloop-test/remote-engine-busybox:${TEST_RUN_ID}`;
      await buildBusyboxImage(docker, {
        tag: image,
        layers: 0,
        bytesPerLayer: 0,
        seed: 'ssh-known-hosts',
        files: { 'junit.xml': '<testsuite name="ssh" tests="1" failures="0"><testcase name="reached"/></testsuite>\n' },
        extraDockerfile: 'COPY junit.xml /tests/TestResults/junit.xml\nCMD ["/bin/busybox", "true"]',
      });
    });

    const runTests = (env: Record<string, string>) =>
      runKeepingFolder(agentFolders, 'RunContainerTests', { inputs: { image, network: 'none' }, env });

    /**
     * Every connection sshd took from character `from` of its log on ended before any login: each one's disconnect is
     * marked [preauth], and no key was offered, accepted or refused (the agent's key never left the agent).
     */
    async function refusedBeforeLogin(from: number): Promise<void> {
      await sshd.waitForLines(from, /^Disconnected from 127\.0\.0\.1 port \d+ \[preauth\]$/);
      const ports = [
        ...sshd
          .log()
          .slice(from)
          .matchAll(/^Connection from 127\.0\.0\.1 port (\d+) /gm),
      ].map((m) => m[1]);
      assert.ok(ports.length > 0, sshd.log().slice(from));
      for (const port of ports) await sshd.waitForLines(from, new RegExp(`^Disconnected from 127\\.0\\.0\\.1 port ${port} \\[preauth\\]$`));
      assert.doesNotMatch(sshd.log().slice(from), /publickey|^Accepted |^Starting session/m, 'no login was tried');
    }

    it('an unknown host (an empty known_hosts): Failed in one line with the offered fingerprint, the files and the ssh-keyscan line', async () => {
      const home = homeWith(work, []);
      const userFile = path.join(home, '.ssh', 'known_hosts');
      const from = sshd.log().length;
      const run = await runTests({ ...NO_ENGINE_SETTINGS, DOCKER_HOST: sshd.url, SSH_AUTH_SOCK: sshd.agent.socket, HOME: home });
      const [hostKey] = sshd.hostKeys;
      assertFailedCleanly(
        run,
        new RegExp(
          `^could not run the tests: the Docker engine at ${escapeRegExp(sshd.url)} \\(from DOCKER_HOST\\): the SSH host \\[127\\.0\\.0\\.1\\]:${sshd.port} offered the ssh-ed25519 key ${escapeRegExp(hostKey.fingerprint)}, and no known_hosts file lists a key for that host \\(looked in ${escapeRegExp(userFile)}, /etc/ssh/ssh_known_hosts.*\\): check that fingerprint with the host's owner, then add the key in an earlier step: ssh-keyscan -p ${sshd.port} 127\\.0\\.0\\.1 >> ${escapeRegExp(userFile)}$`,
        ),
      );
      await refusedBeforeLogin(from);
      assertNoSecrets(run, [pemBody(sshd.agent.privateKey)]);
    });

    it('a changed key (known_hosts lists another key for [127.0.0.1]:<port>), named by a docker context: Failed, before any login', async () => {
      const other = makeTestKey(fs.mkdtempSync(path.join(work, 'other-key-')), 'impostor');
      const home = homeWith(work, [`# the key the host had before`, `[127.0.0.1]:${sshd.port} ${other.publicKey}`]);
      const userFile = path.join(home, '.ssh', 'known_hosts');
      const from = sshd.log().length;
      const run = await failedBuild({ ...NO_ENGINE_SETTINGS, DOCKER_CONFIG: contextConfig, SSH_AUTH_SOCK: sshd.agent.socket, HOME: home });
      const meta = path.join(contextConfig, 'contexts', 'meta', contextId(SSH_CONTEXT), 'meta.json');
      assertFailedCleanly(
        run,
        new RegExp(
          `^the Docker engine at ${escapeRegExp(sshd.url)} \\(from docker context '${SSH_CONTEXT}', named by currentContext in ${escapeRegExp(contextConfig)}/config\\.json, in ${escapeRegExp(meta)}\\): the SSH host key of \\[127\\.0\\.0\\.1\\]:${sshd.port} has changed: the host offered the ssh-ed25519 key ${escapeRegExp(sshd.hostKeys[0].fingerprint)}, but ${escapeRegExp(userFile)}:2 lists another key for it \\(ssh-ed25519 ${escapeRegExp(other.fingerprint)}; looked in `,
        ),
      );
      assert.ok(
        run.message.endsWith(
          `ssh-keygen -R '[127.0.0.1]:${sshd.port}' -f ${userFile}) and add the new key (ssh-keyscan -p ${sshd.port} 127.0.0.1 >> ${userFile}) in an earlier step`,
        ),
        run.message,
      );
      await refusedBeforeLogin(from);
      assertNoSecrets(run, [...registry.secrets(), pemBody(sshd.agent.privateKey)]);
    });

    it('a hashed entry (ssh-keygen -H): Succeeded, through sshd', async () => {
      const home = homeWith(work, [sshd.knownHostsLine()]);
      const userFile = path.join(home, '.ssh', 'known_hosts');
      execFileSync('ssh-keygen', ['-H', '-f', userFile], { stdio: 'ignore' });
      assert.match(fs.readFileSync(userFile, 'utf8'), /^\|1\|[^ ]+ ssh-ed25519 /, 'the entry is hashed');
      const run = await runThroughSshd('RunContainerTests', {
        inputs: { image, network: 'none' },
        env: { ...NO_ENGINE_SETTINGS, DOCKER_HOST: sshd.url, SSH_AUTH_SOCK: sshd.agent.socket, HOME: home },
      });
      assert.equal(run.result, 'Succeeded', describeRun(run));
      assert.equal(run.outputs.resultFiles, '1');
    });

    it('a host with two keys, known_hosts listing only the one ssh2 would not pick first: the listed one is asked for, Succeeded', async () => {
      const both = await startSshd({ hostKeyTypes: ['ed25519', 'ecdsa'] });
      try {
        const home = homeWith(work, [both.knownHostsLine('ecdsa-sha2-nistp256')]);
        const from = both.log().length;
        const run = await runTests({ ...NO_ENGINE_SETTINGS, DOCKER_HOST: both.url, SSH_AUTH_SOCK: both.agent.socket, HOME: home });
        assert.equal(run.result, 'Succeeded', describeRun(run));
        await both.waitForLines(from, /^Accepted publickey /);
      } finally {
        await both.stop();
      }
    });
  });

  function failedBuild(env: Record<string, string>): Promise<TaskRun> {
    return runKeepingFolder(agentFolders, 'BuildTestRunner', {
      inputs: { dockerfile: 'Remote.Dockerfile', imageName: `outerloop-test/never:${TEST_RUN_ID}`, containerRegistry: 'reg' },
      endpoints: [registryEndpoint('reg', registry.url, registry.users[0])],
      variables: { 'System.DefaultWorkingDirectory': sample },
      env,
    });
  }
});
