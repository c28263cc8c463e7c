// The agent's proxy and certificates reach every outbound call, with the bundled tasks run as the agent runs them,
// through a real forward proxy: Debian's squid with basic auth, whose hosts file alone maps registry.outerloop.test and
// ado.outerloop.test to 127.0.0.1, in front of a distribution registry over HTTPS with a certificate from the suite's
// own CA (plus an HTTP twin on the same storage, through which the tests seed and check) and the Azure DevOps contract
// server over HTTPS. squid's access log is the witness of what went through it.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { startAdoContractServer, type AdoContractServer } from '../support/ado-contract-server';
import { buildBusyboxImage, removeTestImages, requireEngine, TEST_RUN_ID } from '../support/engine';
import { needOrSkip } from '../support/env';
import {
  assertFailedCleanly,
  assertNoSecrets,
  bundleOnce,
  describeRun,
  registryEndpoint,
  runBundledTask,
  type RunOptions,
  type TaskRun,
} from '../support/harness';
import { fetchManifest, listTags, pushRandomImage } from '../support/images';
import { requireRegistry, startRegistry, type TestRegistry } from '../support/registries';
import {
  mountNamespacesAvailable,
  requireSquid,
  startSquid,
  withNamesOnlyTheEngineResolves,
  type AccessLogEntry,
  type TestSquid,
} from '../support/squid';
import { createTestPki, type ClientCertificate, type TestPki } from '../support/tls';

const CHART = path.join(__dirname, '..', 'fixtures', 'charts', 'sample-service');
const TASKS = [
  'BuildTestRunner',
  'PackageHelmChart',
  'PromoteImage',
  'PublishContainerTestResults',
  'PushImageByDigest',
  'RunContainerTests',
];
/** The environment's own proxy variables are not the agent's: every run starts without them unless a test sets them. */
const NO_PROXY_ENVIRONMENT = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '' };

describe("the agent's proxy and certificates (bundled tasks through squid: basic auth, HTTPS registry, private CA)", function () {
  let squid: TestSquid;
  let pki: TestPki;
  let agentCertificate: ClientCertificate;
  /** Plain HTTP on loopback: the tests seed and check through it. */
  let plain: TestRegistry;
  /** The same storage over HTTPS (the suite's CA): what the tasks talk to, by a name only squid resolves. */
  let secure: TestRegistry;
  /** The same storage over HTTPS, requiring a client certificate from the suite's CA. */
  let mutual: TestRegistry;
  let work: string;
  /** Runs made in another process (a mount namespace): the harness there does not clean their agent folders up. */
  const foreignRuns: TaskRun[] = [];

  before(async function () {
    this.timeout(120_000);
    requireRegistry(this);
    requireSquid(this);
    await bundleOnce();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-proxy-test-'));
    pki = await createTestPki();
    const serverCertificate = await pki.issueServer('registry', ['registry.outerloop.test', '127.0.0.1']);
    agentCertificate = await pki.issueClient('outerloop-agent');
    squid = await startSquid();
    plain = await startRegistry('htpasswd');
    secure = await startRegistry('htpasswd', { tls: serverCertificate, storageDir: plain.storageDir });
    mutual = await startRegistry('htpasswd', {
      tls: { ...serverCertificate, clientCAs: [pki.caCertificate] },
      storageDir: plain.storageDir,
    });
  });

  after(async () => {
    await Promise.all([squid?.stop(), mutual?.stop(), secure?.stop(), plain?.stop()]);
    pki?.remove();
    if (work) fs.rmSync(work, { recursive: true, force: true });
    for (const taskRun of foreignRuns) fs.rmSync(taskRun.tempDirectory, { recursive: true, force: true });
  });

  /** `registry.outerloop.test:PORT`: reachable only through squid. */
  const proxied = (registry: TestRegistry) => `registry.outerloop.test:${registry.host.split(':')[1]}`;
  const login = (registry: TestRegistry) => registryEndpoint('reg', `https://${proxied(registry)}`, plain.users[0]);
  const secrets = () => [squid.user.password, agentCertificate.passphrase, ...plain.secrets()];

  /**
   * The settings as the agent hands them to a task (Agent.ProxyUrl, Agent.ProxyUsername, secret Agent.ProxyPassword,
   * Agent.CAInfo, …); `undefined` in an override leaves that setting out.
   */
  function agent(variables: Record<string, string | undefined> = {}, secretVariables: Record<string, string | undefined> = {}): RunOptions {
    const defined = (values: Record<string, string | undefined>) =>
      Object.fromEntries(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined));
    return {
      variables: defined({
        'Agent.ProxyUrl': squid.url,
        'Agent.ProxyUsername': squid.user.username,
        'Agent.CAInfo': pki.caCertificate,
        ...variables,
      }),
      secretVariables: defined({ 'Agent.ProxyPassword': squid.user.password, ...secretVariables }),
      env: { ...NO_PROXY_ENVIRONMENT },
    };
  }

  const run = (task: string, options: RunOptions): Promise<TaskRun> =>
    runBundledTask(task, { ...options, env: { ...NO_PROXY_ENVIRONMENT, ...options.env } });

  /** squid's entries for `host` from index `from` on; waits for the first (a tunnel is logged when it closes). */
  async function loggedSince(from: number, host: string, atLeastOne = true): Promise<AccessLogEntry[]> {
    const forHost = (e: AccessLogEntry) => e.url === host || e.url.startsWith(`http://${host}/`);
    if (atLeastOne) return squid.waitForEntries(from, forHost);
    await new Promise((r) => setTimeout(r, 500));
    return squid.accessLog().slice(from).filter(forHost);
  }

  function promote(registry: TestRegistry, repository: string, options: RunOptions): Promise<TaskRun> {
    return run('PromoteImage', {
      ...options,
      inputs: { sourceImage: `${proxied(registry)}/${repository}:v1`, containerRegistry: 'reg' },
      endpoints: [login(registry)],
    });
  }

  describe('through the proxy', () => {
    it("PromoteImage copies the image; every request is an authenticated tunnel in squid's log; no secret leaks", async () => {
      const source = await pushRandomImage(plain, 'proxy-promote/app', 'v1', { layers: 2, seed: 801 });
      const from = squid.accessLog().length;
      const taskRun = await promote(secure, 'proxy-promote/app', agent());
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      assert.equal(taskRun.outputs.digest, source.digest);
      assert.equal((await fetchManifest(plain, 'prod/proxy-promote/app', 'v1')).digest, source.digest);
      const entries = await loggedSince(from, proxied(secure));
      assert.ok(entries.length > 0);
      for (const entry of entries)
        assert.deepEqual([entry.method, entry.result, entry.user], ['CONNECT', 'TCP_TUNNEL/200', squid.user.username]);
      assertNoSecrets(taskRun, secrets());
    });

    it('PackageHelmChart pushes its chart through the proxy', async () => {
      const from = squid.accessLog().length;
      const taskRun = await run('PackageHelmChart', {
        ...agent(),
        reader: 'late',
        inputs: { chartPath: CHART, push: 'true', chartRepository: `oci://${proxied(secure)}/proxy-charts`, containerRegistry: 'reg' },
        endpoints: [login(secure)],
      });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      assert.match(taskRun.outputs.chartDigest, /^sha256:[0-9a-f]{64}$/);
      assert.deepEqual(await listTags(plain, 'proxy-charts/sample-service'), [taskRun.outputs.chartVersion.replace(/\+/g, '_')]);
      assert.ok((await loggedSince(from, proxied(secure))).every((e) => e.result === 'TCP_TUNNEL/200'));
      assertNoSecrets(taskRun, secrets());
    });

    describe('PublishContainerTestResults (api mode) to Azure DevOps over HTTPS', () => {
      let server: AdoContractServer;
      let results: string;
      before(async () => {
        const certificate = await pki.issueServer('ado', ['ado.outerloop.test']);
        server = await startAdoContractServer({
          host: 'ado.outerloop.test',
          tls: { cert: fs.readFileSync(certificate.certificate, 'utf8'), key: fs.readFileSync(certificate.key, 'utf8') },
        });
        results = fs.mkdtempSync(path.join(work, 'results-'));
        const cases = ['a', 'b', 'c'].map((n) => `<testcase classname="proxy" name="${n}" time="0.01"/>`).join('');
        fs.writeFileSync(
          path.join(results, 'TEST-proxy.xml'),
          `<?xml version="1.0"?><testsuites><testsuite name="proxy">${cases}</testsuite></testsuites>\n`,
        );
      });
      after(() => server?.close());

      const publish = (options: RunOptions) =>
        run('PublishContainerTestResults', {
          ...options,
          inputs: { searchFolder: results, testResultsFiles: '**/TEST-*.xml' },
          variables: { 'System.TeamFoundationCollectionUri': server.url, 'System.TeamProject': server.project, ...options.variables },
          endpoints: [{ id: 'SystemVssConnection', url: server.url, scheme: 'OAuth', parameters: { AccessToken: server.token } }],
        });

      it("publishes the run through the proxy, with the agent's CA", async () => {
        const from = squid.accessLog().length;
        const taskRun = await publish(agent());
        assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
        const created = [...server.runs.values()].at(-1);
        assert.equal(created?.state, 'Completed');
        assert.equal(created?.resultCount, 3);
        assert.deepEqual(server.violations, []);
        const entries = await loggedSince(from, `ado.outerloop.test:${new URL(server.url).port}`);
        assert.ok(entries.every((e) => e.result === 'TCP_TUNNEL/200' && e.user === squid.user.username));
        assertNoSecrets(taskRun, [...secrets(), server.token]);
      });

      it('a wrong proxy password fails in one line naming the proxy settings', async () => {
        const taskRun = await publish(agent({}, { 'Agent.ProxyPassword': 'not-the-password' }));
        assertFailedCleanly(taskRun, /refused the credentials of user 'agent-proxy': 407 .*Agent\.ProxyUsername and Agent\.ProxyPassword/);
        assertNoSecrets(taskRun, [...secrets(), 'not-the-password', server.token]);
      });
    });

    it("PushImageByDigest: the engine pushes, the task's own digest check goes through the proxy; without the proxy it names Agent.ProxyUrl", async function () {
      this.timeout(180_000);
      const docker: Dockerode = await requireEngine(this);
      needOrSkip(this, mountNamespacesAvailable(), 'mount namespaces (root and util-linux unshare)');
      const sourceImage = `outerloop-test/proxy-push:${TEST_RUN_ID}`;
      await buildBusyboxImage(docker, { tag: sourceImage, layers: 1, bytesPerLayer: 32 * 1024, seed: `proxy-push-${TEST_RUN_ID}` });
      try {
        // The engine finds registry.outerloop.test in the machine's /etc/hosts (and, on 127.0.0.1, pushes without
        // verifying TLS); the task, in its own mount namespace, finds it nowhere and must ask squid.
        await withNamesOnlyTheEngineResolves(['registry.outerloop.test'], async (runInNamespace) => {
          const push = async (tag: string, options: RunOptions) => {
            const taskRun = await runInNamespace('PushImageByDigest', {
              ...options,
              env: { ...NO_PROXY_ENVIRONMENT },
              inputs: {
                sourceImage,
                repository: `${proxied(secure)}/proxy-push/app`,
                tags: tag,
                containerRegistry: 'reg',
                publishLockArtifact: 'false',
              },
              endpoints: [login(secure)],
            });
            foreignRuns.push(taskRun);
            return taskRun;
          };
          const from = squid.accessLog().length;
          const pushed = await push('v1', agent());
          assert.equal(pushed.result, 'Succeeded', describeRun(pushed));
          assert.equal((await fetchManifest(plain, 'proxy-push/app', 'v1')).digest, pushed.outputs.digest);
          const entries = await loggedSince(from, proxied(secure));
          assert.ok(entries.length > 0 && entries.every((e) => e.result === 'TCP_TUNNEL/200'), JSON.stringify(entries));
          assertNoSecrets(pushed, secrets());

          const unset = await push(
            'v2',
            agent({ 'Agent.ProxyUrl': undefined, 'Agent.ProxyUsername': undefined }, { 'Agent.ProxyPassword': undefined }),
          );
          assertFailedCleanly(unset, /could not resolve registry\.outerloop\.test .*is a proxy needed \(Agent\.ProxyUrl or HTTPS_PROXY\)/);
        });
      } finally {
        await removeTestImages(docker, { onlyThisRun: true });
      }
    });

    it('HTTPS_PROXY (credentials in the URL) serves when the agent has no proxy; its password is masked too', async () => {
      const source = await pushRandomImage(plain, 'proxy-env/app', 'v1', { layers: 1, seed: 802 });
      const from = squid.accessLog().length;
      const environmentProxy = `http://${squid.user.username}:${encodeURIComponent(squid.user.password)}@127.0.0.1:${squid.port}`;
      const taskRun = await promote(secure, 'proxy-env/app', {
        ...agent({ 'Agent.ProxyUrl': undefined, 'Agent.ProxyUsername': undefined }, { 'Agent.ProxyPassword': undefined }),
        env: { HTTPS_PROXY: environmentProxy },
      });
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      assert.equal(taskRun.outputs.digest, source.digest);
      assert.ok((await loggedSince(from, proxied(secure))).every((e) => e.user === squid.user.username));
      assertNoSecrets(taskRun, [...secrets(), encodeURIComponent(squid.user.password)]);
    });
  });

  describe('misconfigurations: one Failed line naming the setting to fix', () => {
    before(async () => {
      await pushRandomImage(plain, 'proxy-bad/app', 'v1', { layers: 1, seed: 803 });
    });

    it('no proxy: the name does not resolve, is a proxy needed (Agent.ProxyUrl)?', async () => {
      const taskRun = await promote(
        secure,
        'proxy-bad/app',
        agent({ 'Agent.ProxyUrl': undefined, 'Agent.ProxyUsername': undefined }, { 'Agent.ProxyPassword': undefined }),
      );
      assertFailedCleanly(
        taskRun,
        /could not resolve registry\.outerloop\.test \(ENOTFOUND\): is a proxy needed \(Agent\.ProxyUrl or HTTPS_PROXY\)\?/,
      );
    });

    it('a wrong proxy password: 407, check Agent.ProxyUsername and Agent.ProxyPassword (and not retried)', async () => {
      const from = squid.accessLog().length;
      const taskRun = await promote(secure, 'proxy-bad/app', agent({}, { 'Agent.ProxyPassword': 'wrong-Proxy-Password' }));
      assertFailedCleanly(
        taskRun,
        /the proxy http:\/\/127\.0\.0\.1:\d+ \(Agent\.ProxyUrl\) refused the credentials of user 'agent-proxy': 407 .*check Agent\.ProxyUsername and Agent\.ProxyPassword/,
      );
      const denied = (await loggedSince(from, proxied(secure))).filter((e) => e.result === 'TCP_DENIED/407');
      assert.equal(denied.length, 1, 'a refusal of the credentials is not retried');
      assertNoSecrets(taskRun, [...secrets(), 'wrong-Proxy-Password']);
    });

    it('the CA missing: the certificate is not trusted, add its CA to Agent.CAInfo', async () => {
      const taskRun = await promote(secure, 'proxy-bad/app', agent({ 'Agent.CAInfo': undefined }));
      assertFailedCleanly(
        taskRun,
        /the certificate of registry\.outerloop\.test:\d+ is not trusted \([A-Z_]+\): add its CA to Agent\.CAInfo \(or set Agent\.SkipCertValidation\)/,
      );
    });

    it('a host on Agent.ProxyBypassList goes direct: squid sees nothing, and the failure says the list sent it there', async () => {
      const from = squid.accessLog().length;
      const taskRun = await promote(
        secure,
        'proxy-bad/app',
        agent({ 'Agent.ProxyBypassList': JSON.stringify(['\\.outerloop\\.test(:\\d+)?$']) }),
      );
      assertFailedCleanly(
        taskRun,
        /could not resolve registry\.outerloop\.test \(ENOTFOUND\); it is reached directly \(Agent\.ProxyBypassList\)/,
      );
      assert.deepEqual(await loggedSince(from, proxied(secure), false), []);
    });

    it("without an agent proxy, a host NO_PROXY lists goes direct past HTTPS_PROXY (curl's suffix rule)", async () => {
      const from = squid.accessLog().length;
      const taskRun = await promote(secure, 'proxy-bad/app', {
        ...agent({ 'Agent.ProxyUrl': undefined, 'Agent.ProxyUsername': undefined }, { 'Agent.ProxyPassword': undefined }),
        env: {
          HTTPS_PROXY: `http://${squid.user.username}:${squid.user.password}@127.0.0.1:${squid.port}`,
          NO_PROXY: 'example.com, .outerloop.test',
        },
      });
      assertFailedCleanly(taskRun, /could not resolve registry\.outerloop\.test \(ENOTFOUND\); it is reached directly \(NO_PROXY\)/);
      assert.deepEqual(await loggedSince(from, proxied(secure), false), []);
      assertNoSecrets(taskRun, secrets());
    });

    it('settings that cannot be used at all', async () => {
      assertFailedCleanly(
        await promote(secure, 'proxy-bad/app', agent({ 'Agent.CAInfo': path.join(work, 'missing-ca.pem') })),
        /Agent\.CAInfo names '.*missing-ca\.pem', which cannot be read \(ENOENT\)/,
      );
      assertFailedCleanly(
        await promote(secure, 'proxy-bad/app', agent({ 'Agent.ProxyUrl': 'socks5://127.0.0.1:1080' })),
        /Agent\.ProxyUrl is a socks5:\/\/ proxy: only http:\/\/ and https:\/\/ proxies are supported/,
      );
      assertFailedCleanly(
        await promote(secure, 'proxy-bad/app', agent({ 'Agent.ProxyBypassList': '["(unclosed"]' })),
        /Agent\.ProxyBypassList holds '\(unclosed', which is not a regular expression/,
      );
    });
  });

  describe('certificates', () => {
    it('Agent.SkipCertValidation lets an untrusted certificate through, with a warning', async () => {
      const source = await pushRandomImage(plain, 'proxy-skip/app', 'v1', { layers: 1, seed: 804 });
      const taskRun = await promote(secure, 'proxy-skip/app', agent({ 'Agent.CAInfo': undefined, 'Agent.SkipCertValidation': 'true' }));
      assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
      assert.equal(taskRun.outputs.digest, source.digest);
      assert.ok(
        taskRun.warnings.some((w) => /Agent\.SkipCertValidation is true: .*not verified/.test(w)),
        taskRun.warnings.join('\n'),
      );
    });

    describe('a registry that requires a client certificate', () => {
      const withCertificate = (passphrase: string) =>
        agent(
          {
            'Agent.ClientCert': agentCertificate.certificate,
            'Agent.ClientCertKey': agentCertificate.key,
            'Agent.ClientCertArchive': agentCertificate.archive,
          },
          { 'Agent.ClientCertPassword': passphrase },
        );

      before(async () => {
        await pushRandomImage(plain, 'proxy-mtls/app', 'v1', { layers: 1, seed: 805 });
      });

      it("accepts the agent's (Agent.ClientCert, Agent.ClientCertKey, secret Agent.ClientCertPassword)", async () => {
        const taskRun = await promote(mutual, 'proxy-mtls/app', withCertificate(agentCertificate.passphrase));
        assert.equal(taskRun.result, 'Succeeded', describeRun(taskRun));
        assertNoSecrets(taskRun, secrets());
      });

      it('without one, the task says to set Agent.ClientCert', async () => {
        assertFailedCleanly(
          await promote(mutual, 'proxy-mtls/app', agent()),
          /registry\.outerloop\.test:\d+ asks for a client certificate \(ERR_SSL_[A-Z0-9_/]+\): set Agent\.ClientCert and Agent\.ClientCertKey/,
        );
      });

      it('with a wrong passphrase, the task names Agent.ClientCertPassword before it sends anything', async () => {
        const taskRun = await promote(mutual, 'proxy-mtls/app', withCertificate('not-the-Passphrase'));
        assertFailedCleanly(taskRun, /the key in Agent\.ClientCertKey cannot be read .*check Agent\.ClientCertPassword/);
        assertNoSecrets(taskRun, [...secrets(), 'not-the-Passphrase']);
      });
    });
  });

  it("no task prints the proxy password or the key passphrase, task-lib's own debug lines included, nor leaves a key file", async () => {
    const settings = agent(
      {
        'Agent.ClientCert': agentCertificate.certificate,
        'Agent.ClientCertKey': agentCertificate.key,
        'Agent.ClientCertArchive': agentCertificate.archive,
        'System.Debug': 'true',
      },
      { 'Agent.ClientCertPassword': agentCertificate.passphrase },
    );
    // task-lib loads on the first call that needs it (shared/src/pipeline/agent.ts): these runs stop at their inputs
    // without it, and one more goes past its inputs to the network settings, which task-lib reads (and prints).
    const runs = await Promise.all(TASKS.map(async (task) => [task, await run(task, settings)] as const));
    const pastInputs = await run('PromoteImage', { ...settings, inputs: { sourceImage: 'registry.invalid/app:v1' } });
    assert.match(pastInputs.stdout, /##vso\[task\.debug\]Agent\.ProxyUrl=/, 'PromoteImage: task-lib read the proxy settings');
    for (const [task, taskRun] of [...runs, ['PromoteImage (past its inputs)', pastInputs] as const]) {
      assertNoSecrets(taskRun, secrets());
      // task-lib would keep an encryption key for the password it exposes in Agent.TempDirectory/proxy (and /cert).
      for (const file of ['proxy', 'cert']) assert.ok(!fs.existsSync(path.join(taskRun.tempDirectory, file)), `${task} left ${file}`);
    }
  });
});
