// The registry client's side of issue 9 against a scripted fetch: an Entra identity exchanged once for an ACR refresh
// token (Azure/acr docs/AAD-OAuth.md: POST /oauth2/exchange, then POST /oauth2/token per scope set), Entra tokens sent
// only to ACR login servers, the engine's form of the login, and a Docker-Content-Digest that is not sha256:<64 hex>
// treated as absent. The same against a real registry: test/task/sign-in.test.ts.
import { strict as assert } from 'node:assert';
import { memoryLog } from '../../shared/src/log';
import { acrHostProblem, registryHostFromUrl } from '../../shared/src/reference/hosts';
import { ACR_REFRESH_TOKEN_USER, type EntraCredentials, type EntraTokenRequest } from '../../shared/src/registry/auth';
import { passwordLogin } from '../../shared/src/registry/clients';
import { RegistryError } from '../../shared/src/registry/errors';
import { getManifest, headManifest, putManifest } from '../../shared/src/registry/manifest';
import { completeUpload } from '../../shared/src/registry/blob';
import { RegistryClient } from '../../shared/src/registry/transport';
import { sha256Digest } from '../../shared/src/reference/reference';

interface Call {
  url: URL;
  method: string;
  authorization: string | null;
  body: string;
}

function scripted(reply: (call: Call) => Response) {
  const calls: Call[] = [];
  const fetch = ((input: string | URL | Request, init?: RequestInit) => {
    const call = {
      url: new URL(input instanceof Request ? input.url : input.toString()),
      method: init?.method ?? 'GET',
      authorization: new Headers(init?.headers).get('authorization'),
      body: typeof init?.body === 'string' ? init.body : '',
    };
    calls.push(call);
    try {
      return Promise.resolve(reply(call));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const LOGIN_SERVER = 'myacr.azurecr.io';
const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const challenge = (realm = `https://${LOGIN_SERVER}/oauth2/token`) =>
  new Response('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}', {
    status: 401,
    headers: { 'www-authenticate': `Bearer realm="${realm}",service="${LOGIN_SERVER}"` },
  });

/** An ACR as AAD-OAuth.md describes it: exchange, refresh-token grant, API calls with the access token. */
function acr() {
  let issued = 0;
  return scripted((call) => {
    if (call.url.pathname === '/oauth2/exchange') return json({ refresh_token: 'ACR-REFRESH' });
    if (call.url.pathname === '/oauth2/token') return json({ access_token: `ACR-ACCESS-${++issued}` });
    return call.authorization?.startsWith('Bearer ACR-ACCESS-') ? json({ ok: true }) : challenge();
  });
}

function entra(token = 'ENTRA-TOKEN') {
  const requests: EntraTokenRequest[] = [];
  const credentials: EntraCredentials = {
    kind: 'entra',
    identity: "service principal 'abc' (workload identity federation)",
    tenant: 'tenant-1',
    accessToken: (request) => {
      requests.push(request);
      return Promise.resolve(token);
    },
  };
  return { credentials, requests };
}

describe('ACR sign-in in the registry client (Azure/acr docs/AAD-OAuth.md)', () => {
  it('exchanges the Entra token once (grant_type=access_token, service, tenant), then buys one access token per scope set', async () => {
    const { fetch, calls } = acr();
    const { credentials, requests } = entra();
    const log = memoryLog();
    const client = new RegistryClient({ registry: LOGIN_SERVER, credentials, credentialsLabel: "input 'containerRegistry'", fetch, log });
    await client.request({ method: 'GET', path: '/v2/team/app/manifests/v1', scopes: ['repository:team/app:pull'], expect: [200] });
    await client.request({ method: 'GET', path: '/v2/other/app/manifests/v1', scopes: ['repository:other/app:pull'], expect: [200] });

    const exchanges = calls.filter((c) => c.url.pathname === '/oauth2/exchange');
    assert.equal(exchanges.length, 1, 'one exchange per identity and registry');
    assert.equal(requests.length, 1, 'the Entra token is asked for once');
    assert.equal(requests[0].fetch, fetch, "the token source gets the client's own fetch (the agent's proxy and certificates)");
    const exchange = new URLSearchParams(exchanges[0].body);
    assert.deepEqual(Object.fromEntries(exchange), {
      grant_type: 'access_token',
      service: LOGIN_SERVER,
      tenant: 'tenant-1',
      access_token: 'ENTRA-TOKEN',
    });
    assert.equal(exchanges[0].method, 'POST');

    const tokens = calls.filter((c) => c.url.pathname === '/oauth2/token');
    assert.equal(tokens.length, 2, 'one access token per scope set');
    const first = new URLSearchParams(tokens[0].body);
    assert.equal(tokens[0].method, 'POST');
    assert.equal(first.get('grant_type'), 'refresh_token');
    assert.equal(first.get('refresh_token'), 'ACR-REFRESH');
    assert.equal(first.get('service'), LOGIN_SERVER);
    assert.deepEqual(first.getAll('scope'), ['repository:team/app:pull'], 'one scope field per scope');
    assert.equal(client.stats.exchanges, 1);
    for (const secret of ['ENTRA-TOKEN', 'ACR-REFRESH', 'ACR-ACCESS-1', 'ACR-ACCESS-2'])
      assert.ok(log.secrets.includes(secret), `${secret} masked`);
  });

  it('gives the engine the null-GUID user and the refresh token, reusing the exchange it made', async () => {
    const { fetch, calls } = acr();
    const { credentials } = entra();
    const client = new RegistryClient({ registry: LOGIN_SERVER, credentials, fetch, log: memoryLog() });
    await client.request({ method: 'HEAD', path: '/v2/team/app/manifests/v1', scopes: ['repository:team/app:pull'], expect: [200] });
    const login = await passwordLogin(
      { host: LOGIN_SERVER, credentials, label: "input 'azureSubscriptionEndpoint'" },
      { client, log: memoryLog() },
    );
    assert.deepEqual(login.credentials, { username: ACR_REFRESH_TOKEN_USER, password: 'ACR-REFRESH' });
    assert.equal(login.label, "input 'azureSubscriptionEndpoint'");
    assert.equal(calls.filter((c) => c.url.pathname === '/oauth2/exchange').length, 1);
  });

  it("asks /v2/ for the challenge first when the engine's login is wanted before any registry call", async () => {
    const { fetch, calls } = acr();
    const { credentials } = entra();
    const login = await passwordLogin({ host: LOGIN_SERVER, credentials }, { transport: { fetch }, log: memoryLog() });
    assert.equal(login.credentials.username, ACR_REFRESH_TOKEN_USER);
    assert.deepEqual(
      calls.map((c) => `${c.method} ${c.url.pathname}`),
      ['GET /v2/', 'POST /oauth2/exchange'],
    );
    assert.equal(calls[0].authorization, null, 'the challenge is asked without credentials');
  });

  it('passes a user name and password through untouched (no call at all)', async () => {
    const login = await passwordLogin({ host: 'r.example', credentials: { username: 'u', password: 'p' } }, { log: memoryLog() });
    assert.deepEqual(login.credentials, { username: 'u', password: 'p' });
  });

  it('sends no Entra token to a realm that is not an ACR login server, and does not even fetch one', async () => {
    const { fetch, calls } = scripted((call) =>
      call.url.host === LOGIN_SERVER ? challenge('https://tokens.example.com/oauth2/token') : json({ refresh_token: 'X' }),
    );
    const { credentials, requests } = entra();
    const client = new RegistryClient({
      registry: LOGIN_SERVER,
      credentials,
      credentialsLabel: "input 'azureSubscriptionEndpoint'",
      fetch,
      log: memoryLog(),
    });
    await assert.rejects(
      client.request({ method: 'GET', path: '/v2/a/manifests/1', scopes: ['repository:a:pull'], expect: [200] }),
      (error: Error) =>
        error instanceof RegistryError &&
        error.code === 'NOT_ACR' &&
        /tokens\.example\.com is not an Azure Container Registry login server/.test(error.message) &&
        /input 'azureSubscriptionEndpoint'/.test(error.message),
    );
    assert.equal(requests.length, 0, 'the Entra token was never asked for');
    assert.ok(!calls.some((c) => c.url.host === 'tokens.example.com'), 'nothing went to the foreign realm');
  });

  it('refuses an Entra login for a registry that is not ACR, loopback only under the test seam', async () => {
    const { fetch } = scripted(() => challenge('http://127.0.0.1:5000/oauth2/token'));
    const { credentials } = entra();
    const client = new RegistryClient({ registry: '127.0.0.1:5000', credentials, fetch, log: memoryLog() });
    await assert.rejects(
      client.request({ method: 'GET', path: '/v2/a/manifests/1', scopes: ['repository:a:pull'], expect: [200] }),
      /127\.0\.0\.1:5000 is not an Azure Container Registry login server/,
    );
  });

  it('names the identity and the missing right when the registry refuses the access token (insufficient_scope)', async () => {
    const { fetch } = scripted((call) => {
      if (call.url.pathname === '/oauth2/exchange') return json({ refresh_token: 'R' });
      if (call.url.pathname === '/oauth2/token') return json({ access_token: 'A' });
      return new Response('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}', {
        status: 401,
        headers: {
          'www-authenticate': `Bearer realm="https://${LOGIN_SERVER}/oauth2/token",service="${LOGIN_SERVER}",scope="repository:prod/app:pull,push",error="insufficient_scope"`,
        },
      });
    });
    const { credentials } = entra();
    const client = new RegistryClient({
      registry: LOGIN_SERVER,
      credentials,
      credentialsLabel: "input 'azureSubscriptionEndpoint'",
      fetch,
      log: memoryLog(),
    });
    await assert.rejects(
      client.request({
        method: 'PUT',
        path: '/v2/prod/app/manifests/v1',
        scopes: ['repository:prod/app:pull,push'],
        expect: [201],
        body: '{}',
      }),
      /service principal 'abc' \(workload identity federation\) \(input 'azureSubscriptionEndpoint'\) lacks the access 'repository:prod\/app:pull,push' \(insufficient_scope\)/,
    );
  });

  it('says the exchange was refused and what the identity needs', async () => {
    const { fetch } = scripted((call) =>
      call.url.pathname === '/oauth2/exchange'
        ? json({ errors: [{ code: 'UNAUTHORIZED', message: 'identity has no role' }] }, 401)
        : challenge(),
    );
    const { credentials } = entra();
    const client = new RegistryClient({
      registry: LOGIN_SERVER,
      credentials,
      credentialsLabel: "input 'containerRegistry'",
      fetch,
      log: memoryLog(),
    });
    await assert.rejects(
      client.request({ method: 'GET', path: '/v2/a/manifests/1', scopes: ['repository:a:pull'], expect: [200] }),
      /401 UNAUTHORIZED: identity has no role; myacr\.azurecr\.io refused the Entra token of service principal 'abc' .*\(input 'containerRegistry'\): the identity needs a role on the registry \(AcrPull to pull, AcrPush to push\)/,
    );
  });
});

describe('registry-host rules for Entra tokens (reference/hosts.ts)', () => {
  it('admits ACR login servers of the public and sovereign clouds, any port', () => {
    for (const host of [
      'myacr.azurecr.io',
      'MyAcr.AzureCR.io',
      'myacr-abc123.azurecr.io',
      'myacr.azurecr.cn',
      'myacr.azurecr.us',
      'myacr.azurecr.io:443',
    ]) {
      assert.equal(acrHostProblem(host), undefined, host);
    }
  });

  it('refuses every other host, look-alikes included', () => {
    for (const host of [
      'registry.example.com',
      'azurecr.io',
      'evil.com/.azurecr.io',
      'myacr.azurecr.io.evil.com',
      'myacrazurecr.io',
      'a.b.azurecr.io',
      '127.0.0.1:5000',
      'localhost',
    ]) {
      assert.match(acrHostProblem(host) ?? '', /is not an Azure Container Registry login server/, host);
    }
  });

  it('admits loopback hosts only under the test seam', () => {
    assert.equal(acrHostProblem('127.0.0.1:5000', { admitLoopback: true }), undefined);
    assert.equal(acrHostProblem('localhost:5000', { admitLoopback: true }), undefined);
    assert.ok(acrHostProblem('registry.example.com', { admitLoopback: true }));
  });

  it('reads a connection URL as a registry host (Docker Hub aliases folded)', () => {
    assert.equal(registryHostFromUrl('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(registryHostFromUrl('https://MyAcr.AzureCR.io/'), 'myacr.azurecr.io');
    assert.equal(registryHostFromUrl('http://127.0.0.1:5000/'), '127.0.0.1:5000');
    assert.equal(registryHostFromUrl(''), undefined);
  });
});

describe('a Docker-Content-Digest that is not sha256:<64 hex> counts as absent (the bytes are hashed, as go-containerregistry does)', () => {
  const manifest = Buffer.from(
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}',
  );
  const digest = sha256Digest(manifest);
  const bareHex = digest.slice('sha256:'.length);

  function registry(reply: (call: Call) => Response) {
    const { fetch, calls } = scripted(reply);
    return { client: new RegistryClient({ registry: 'r.example', fetch, log: memoryLog() }), calls };
  }

  it('reads a manifest by tag whose header is bare hex', async () => {
    const { client } = registry(
      () =>
        new Response(manifest, {
          headers: { 'docker-content-digest': bareHex, 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        }),
    );
    assert.equal((await getManifest(client, 'a', 'v1')).digest, digest);
  });

  it('still refuses a well-formed digest that does not match the bytes', async () => {
    const other = `sha256:${'1'.repeat(64)}`;
    const { client } = registry(() => new Response(manifest, { headers: { 'docker-content-digest': other } }));
    await assert.rejects(getManifest(client, 'a', 'v1'), /DIGEST_MISMATCH/);
  });

  it('resolves a HEAD with a bare-hex header by reading and hashing the manifest', async () => {
    const { client, calls } = registry(
      (call) => new Response(call.method === 'HEAD' ? null : manifest, { headers: { 'docker-content-digest': bareHex } }),
    );
    assert.equal((await headManifest(client, 'a', 'v1'))?.digest, digest);
    assert.deepEqual(
      calls.map((c) => c.method),
      ['HEAD', 'GET'],
    );
  });

  it('confirms a manifest PUT answered with bare hex by reading it back', async () => {
    const { client, calls } = registry((call) =>
      call.method === 'PUT'
        ? new Response(null, { status: 201, headers: { 'docker-content-digest': bareHex } })
        : new Response(manifest, { headers: { 'docker-content-digest': bareHex } }),
    );
    assert.equal(await putManifest(client, 'a', 'v1', manifest, 'application/vnd.oci.image.manifest.v1+json'), digest);
    assert.deepEqual(
      calls.map((c) => c.method),
      ['PUT', 'GET'],
    );
  });

  it('completes a blob upload answered with bare hex', async () => {
    const blob = Buffer.from('layer bytes');
    const { client } = registry(
      () => new Response(null, { status: 201, headers: { 'docker-content-digest': sha256Digest(blob).slice(7) } }),
    );
    await completeUpload(client, 'a', 'https://r.example/v2/a/blobs/uploads/1', sha256Digest(blob), blob);
  });
});
