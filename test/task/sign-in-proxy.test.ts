// Issue 9's sign-in calls go out with the agent's proxy and certificates (issue "Every result reaches the agent …"):
// Azure DevOps' OIDC route and Entra ID served over HTTPS (the suite's CA) under ado.outerloop.test, a name only
// Debian's squid (basic auth) resolves, so the bundled task reaches them only through it. The registry and the
// instance metadata stand-in are on loopback, which is always reached directly (shared/src/net/route.ts).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { startSignInWorld, type SignInWorld } from '../support/azure-signin';
import { assertFailedCleanly, assertNoSecrets, bundleOnce, describeRun, runBundledTask, type RunOptions } from '../support/harness';
import { pushRandomImage } from '../support/images';
import { requireRegistry } from '../support/registries';
import { requireSquid, startSquid, type TestSquid } from '../support/squid';
import { createTestPki, type TestPki } from '../support/tls';

const NAME = 'ado.outerloop.test';
/** The environment's own proxy variables are not the agent's. */
const NO_PROXY_ENVIRONMENT = { HTTPS_PROXY: '', https_proxy: '', HTTP_PROXY: '', http_proxy: '', NO_PROXY: '', no_proxy: '' };

describe("the Azure sign-in calls take the agent's proxy and CA (bundled PromoteImage through squid, HTTPS identity endpoints)", function () {
  let squid: TestSquid;
  let pki: TestPki;
  let world: SignInWorld;

  before(async function () {
    this.timeout(120_000);
    requireRegistry(this);
    requireSquid(this);
    await bundleOnce();
    pki = await createTestPki();
    const certificate = await pki.issueServer('azure-identity', [NAME]);
    squid = await startSquid();
    world = await startSignInWorld({
      identityTls: { cert: fs.readFileSync(certificate.certificate, 'utf8'), key: fs.readFileSync(certificate.key, 'utf8'), host: NAME },
    });
    await pushRandomImage(world.acr.seed, 'proxy-signin/app', 'v1', { layers: 2, seed: 970 });
  });

  after(async function () {
    this.timeout(30_000);
    await Promise.all([world?.stop(), squid?.stop()]);
    pki?.remove();
  });

  /** The agent's proxy settings (and CA, unless left out), as the agent hands them to a task. */
  function agent(withCa = true): RunOptions {
    return {
      variables: {
        'Agent.ProxyUrl': squid.url,
        'Agent.ProxyUsername': squid.user.username,
        ...(withCa ? { 'Agent.CAInfo': pki.caCertificate } : {}),
      },
      secretVariables: { 'Agent.ProxyPassword': squid.user.password },
      env: NO_PROXY_ENVIRONMENT,
    };
  }

  function promote(mode: 'arm-workload-identity' | 'arm-certificate', target: string, proxy: RunOptions) {
    const signIn = world.runOptions(mode);
    return runBundledTask('PromoteImage', {
      ...signIn,
      inputs: { ...signIn.inputs, sourceImage: `${world.acr.host}/proxy-signin/app:v1`, targetNamespace: target },
      variables: { ...signIn.variables, ...proxy.variables },
      secretVariables: proxy.secretVariables,
      env: { ...signIn.env, ...proxy.env },
    });
  }

  const portOf = (url: string) => new URL(url).port;

  it("workload identity federation: the OIDC and Entra requests are authenticated tunnels in squid's log", async function () {
    this.timeout(60_000);
    const from = squid.accessLog().length;
    world.identity.reset();
    const run = await promote('arm-workload-identity', 'prod-proxied', agent());
    assert.equal(run.result, 'Succeeded', describeRun(run));
    assert.deepEqual(world.identity.counts(), { ado: 1, entra: 1, imds: 0 });
    const ado = `${NAME}:${portOf(world.identity.collectionUri)}`;
    const entra = `${NAME}:${portOf(world.identity.authority)}`;
    // A tunnel is logged when it closes: wait for each.
    const both = [
      ...(await squid.waitForEntries(from, (e) => e.url === ado)),
      ...(await squid.waitForEntries(from, (e) => e.url === entra)),
    ];
    for (const entry of both)
      assert.deepEqual([entry.method, entry.result, entry.user], ['CONNECT', 'TCP_TUNNEL/200', squid.user.username]);
    assert.ok(
      !squid
        .accessLog()
        .slice(from)
        .some((e) => e.url.includes(world.acr.host)),
      'the loopback registry is reached directly',
    );
    assertNoSecrets(run, [...world.secrets(), squid.user.password]);
  });

  it("a certificate connection without the agent's CA: the Entra call fails in one line naming Agent.CAInfo and the input", async function () {
    this.timeout(60_000);
    const run = await promote('arm-certificate', 'prod-no-ca', agent(false));
    assertFailedCleanly(
      run,
      /input 'azureSubscriptionEndpoint' \(service connection 'arm-cert'\): .*the certificate of ado\.outerloop\.test:\d+ is not trusted .*add its CA to Agent\.CAInfo/,
    );
    assertNoSecrets(run, [...world.secrets(), squid.user.password]);
  });
});
