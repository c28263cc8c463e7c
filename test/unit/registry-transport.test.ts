// The client's decisions (which credentials to send, when to renew a token, what to retry) checked against a
// scripted fetch. What a real registry does with them is tested in test/integration/promote-core.test.ts.
import { strict as assert } from 'node:assert';
import { memoryLog } from '../../shared/src/log';
import { RegistryError } from '../../shared/src/registry/errors';
import { RegistryClient } from '../../shared/src/registry/transport';

interface Call {
  url: string;
  method: string;
  authorization: string | null;
}

type Reply = (call: Call, n: number) => Response | Promise<Response>;

function scripted(reply: Reply) {
  const calls: Call[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const call = {
      url: input instanceof Request ? input.url : input.toString(),
      method: init?.method ?? 'GET',
      authorization: headers.get('authorization'),
    };
    calls.push(call);
    return reply(call, calls.length);
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const REALM = 'https://auth.example/token';
const bearerChallenge = (extra = '') =>
  new Response('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}', {
    status: 401,
    headers: { 'www-authenticate': `Bearer realm="${REALM}",service="registry.example"${extra}` },
  });
const ok = (body = '{}', headers: Record<string, string> = {}) => new Response(body, { status: 200, headers });
const tokenResponse = (token: string, expiresIn = 300) => ok(JSON.stringify({ token, expires_in: expiresIn }));

function client(fetch: typeof globalThis.fetch, extra: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}) {
  const log = memoryLog();
  const delays: number[] = [];
  const c = new RegistryClient({
    registry: 'registry.example',
    fetch,
    log,
    retry: {
      random: () => 0,
      sleep: (ms) => {
        delays.push(ms);
        return Promise.resolve();
      },
    },
    ...extra,
  });
  return { client: c, log, delays };
}

const pull = (repo: string) => `repository:${repo}:pull`;

describe('registry transport (scripted fetch)', () => {
  it('answers a Bearer challenge with one token covering the declared scopes, then reuses it', async () => {
    const { fetch, calls } = scripted((call) => {
      if (call.url.startsWith(REALM)) return tokenResponse('TOKEN-1');
      return call.authorization === 'Bearer TOKEN-1' ? ok('{"a":1}') : bearerChallenge(',scope="repository:team/app:pull"');
    });
    const { client: c, log } = client(fetch, { credentials: { username: 'ci', password: 'pw-123' } });
    c.declareScopes(['repository:team/app:pull', 'repository:prod/team/app:pull,push']);

    const first = await c.request({ method: 'GET', path: '/v2/team/app/manifests/v1', scopes: [pull('team/app')], expect: [200] });
    assert.equal(first.body.toString(), '{"a":1}');
    await c.request({ method: 'HEAD', path: '/v2/prod/team/app/manifests/v1', scopes: [pull('prod/team/app')], expect: [200] });
    await c.request({
      method: 'PUT',
      path: '/v2/prod/team/app/manifests/v1',
      scopes: ['repository:prod/team/app:push'],
      body: '{}',
      expect: [200],
    });

    const tokenCalls = calls.filter((c) => c.url.startsWith(REALM));
    assert.equal(tokenCalls.length, 1, 'one token for the whole job');
    const tokenUrl = new URL(tokenCalls[0].url);
    assert.deepEqual(tokenUrl.searchParams.getAll('scope'), ['repository:prod/team/app:pull,push', 'repository:team/app:pull']);
    assert.equal(tokenUrl.searchParams.get('service'), 'registry.example');
    assert.equal(tokenCalls[0].authorization, `Basic ${Buffer.from('ci:pw-123').toString('base64')}`);
    assert.deepEqual(
      calls.filter((c) => !c.url.startsWith(REALM)).map((c) => `${c.method} ${c.authorization ?? '-'}`),
      ['GET -', 'GET Bearer TOKEN-1', 'HEAD Bearer TOKEN-1', 'PUT Bearer TOKEN-1'],
    );
    assert.deepEqual(c.stats, { requests: 4, tokenRequests: 1, challenges: 1, retries: 0, writes: 1, exchanges: 0, blobBytes: 0 });
    assert.ok(log.secrets.includes('TOKEN-1'), 'the issued token is registered as a secret');
    assert.ok(log.secrets.includes('pw-123'));
    assert.ok(log.secrets.includes(Buffer.from('ci:pw-123').toString('base64')));
    assert.ok(!log.lines.some((l) => l.includes('TOKEN-1') || l.includes('pw-123')), 'no secret in the log lines');
  });

  it('renews a cached token the registry refuses, and a fresh one it calls invalid (once)', async () => {
    let issued = 0;
    const accepted = new Set(['T3']);
    let t1Uses = 0;
    const { fetch, calls } = scripted((call) => {
      if (call.url.startsWith(REALM)) return tokenResponse(`T${++issued}`);
      const token = call.authorization?.replace('Bearer ', '');
      if (token === 'T1' && t1Uses++ === 0) return ok();
      if (token && !accepted.has(token)) return bearerChallenge(',error="invalid_token"');
      return token ? ok() : bearerChallenge();
    });
    const { client: c } = client(fetch);
    await c.request({ method: 'GET', path: '/v2/a/tags/list', scopes: [pull('a')], expect: [200] });
    // T1 is cached now; the registry stops accepting it (expired early), and T2 arrives already invalid.
    const tokenless = calls.length;
    const response = await c.request({ method: 'GET', path: '/v2/a/tags/list', scopes: [pull('a')], expect: [200] });
    assert.equal(response.status, 200);
    assert.equal(issued, 3);
    assert.deepEqual(
      calls.slice(tokenless).map((c) => (c.url.startsWith(REALM) ? 'token' : c.authorization)),
      ['Bearer T1', 'token', 'Bearer T2', 'token', 'Bearer T3'],
    );
  });

  it('does not ask again when a fresh token lacks the access (insufficient_scope), and says which access', async () => {
    let issued = 0;
    const { fetch } = scripted((call) => {
      if (call.url.startsWith(REALM)) return tokenResponse(`T${++issued}`);
      return bearerChallenge(call.authorization ? ',scope="repository:prod/app:push",error="insufficient_scope"' : '');
    });
    const { client: c } = client(fetch, { credentials: { username: 'reader', password: 'r' } });
    await assert.rejects(
      c.request({
        method: 'POST',
        path: '/v2/prod/app/blobs/uploads/',
        scopes: ['repository:prod/app:push'],
        expect: [202],
        idempotent: true,
      }),
      (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.equal(error.status, 401);
        assert.equal(error.code, 'UNAUTHORIZED');
        assert.equal(error.temporary, false);
        assert.match(error.message, /user 'reader' lacks the access 'repository:prod\/app:push' \(insufficient_scope\)/);
        return true;
      },
    );
    assert.equal(issued, 1);
  });

  it("asks for an action a challenge names beyond the request's (ACR lists tags for metadata_read), once per job", async () => {
    const scopesOf = (url: string) => new URL(url).searchParams.getAll('scope');
    const tokens = new Map<string, string[]>();
    const { fetch, calls } = scripted((call) => {
      if (call.url.startsWith(REALM)) {
        const token = `T${tokens.size + 1}`;
        tokens.set(token, scopesOf(call.url));
        return tokenResponse(token);
      }
      const granted = tokens.get(call.authorization?.replace('Bearer ', '') ?? '');
      if (!granted) return bearerChallenge();
      const listing = /^\/v2\/(.+)\/tags\/list$/.exec(new URL(call.url).pathname);
      if (
        listing &&
        !granted.includes(`repository:${listing[1]}:metadata_read,pull`) &&
        !granted.includes(`repository:${listing[1]}:metadata_read,pull,push`)
      )
        return bearerChallenge(`,scope="repository:${listing[1]}:metadata_read",error="insufficient_scope"`);
      return ok('{"tags":["v1"]}');
    });
    const { client: c, log } = client(fetch, { credentials: { username: 'ci', password: 'pw' } });
    c.declareScopes(['repository:team/app:pull', 'repository:prod/team/app:pull,push']);
    await c.request({ method: 'GET', path: '/v2/team/app/tags/list', scopes: [pull('team/app')], expect: [200] });
    await c.request({ method: 'GET', path: '/v2/prod/team/app/tags/list', scopes: [pull('prod/team/app')], expect: [200] });
    await c.request({ method: 'HEAD', path: '/v2/prod/team/app/manifests/v1', scopes: [pull('prod/team/app')], expect: [200] });
    assert.deepEqual(
      [...tokens.values()],
      [
        ['repository:prod/team/app:pull,push', 'repository:team/app:pull'],
        ['repository:prod/team/app:metadata_read,pull,push', 'repository:team/app:metadata_read,pull'],
      ],
    );
    assert.deepEqual(
      calls.filter((call) => !call.url.startsWith(REALM)).map((call) => `${new URL(call.url).pathname} ${call.authorization ?? '-'}`),
      [
        '/v2/team/app/tags/list -',
        '/v2/team/app/tags/list Bearer T1',
        '/v2/team/app/tags/list Bearer T2',
        '/v2/prod/team/app/tags/list Bearer T2',
        '/v2/prod/team/app/manifests/v1 Bearer T2',
      ],
    );
    assert.ok(log.lines.includes('debug: registry.example wants metadata_read for tags/list: asked for from now on'), log.lines.join('\n'));
  });

  it('takes the repository of a request from the last route word, so a repository named …/blobs learns for itself', async () => {
    const { fetch } = scripted((call) => {
      if (call.url.startsWith(REALM)) return tokenResponse(new URL(call.url).searchParams.getAll('scope').join(' '));
      const granted = call.authorization?.replace('Bearer ', '') ?? '';
      if (!granted) return bearerChallenge();
      return granted.includes('repository:tools/blobs:metadata_read,pull')
        ? ok('{"tags":[]}')
        : bearerChallenge(',scope="repository:tools/blobs:metadata_read",error="insufficient_scope"');
    });
    const { client: c } = client(fetch, { credentials: { username: 'ci', password: 'pw' } });
    const listing = await c.request({
      method: 'GET',
      path: '/v2/tools/blobs/tags/list?n=10',
      scopes: [pull('tools/blobs')],
      expect: [200],
    });
    assert.equal(listing.status, 200);
  });

  it('asks an *.azurecr.io host (or an ACR connection) for metadata_read with its first token, and a refusal to list is an answer', async () => {
    const tokenScopes: string[][] = [];
    const { fetch } = scripted((call) => {
      if (call.url.startsWith(REALM)) {
        tokenScopes.push(new URL(call.url).searchParams.getAll('scope'));
        return tokenResponse('T1');
      }
      if (!call.authorization) return bearerChallenge();
      return call.url.includes('/tags/list') ? bearerChallenge(',scope="repository:app:metadata_read",error="insufficient_scope"') : ok();
    });
    for (const options of [{ registry: 'myacr.azurecr.io' }, { registry: 'registry.example', acr: true }]) {
      tokenScopes.length = 0;
      const { client: c } = client(fetch, {
        ...options,
        baseUrl: 'https://registry.example',
        credentials: { username: 'ci', password: 'pw' },
      });
      c.declareScopes(['repository:app:pull']);
      const listing = await c.request({ method: 'GET', path: '/v2/app/tags/list', scopes: [pull('app')], expect: [200, 401] });
      // A token granted less than it asked for (a scope map without metadata/read) is not asked for again.
      assert.equal(listing.status, 401);
      assert.deepEqual(tokenScopes, [['repository:app:metadata_read,pull']], options.registry);
    }
  });

  it('renews a token before it expires by the injected clock', async () => {
    let now = 1_000_000;
    let issued = 0;
    const { fetch } = scripted((call) => {
      if (call.url.startsWith(REALM)) return tokenResponse(`T${++issued}`, 60);
      return call.authorization ? ok() : bearerChallenge();
    });
    const { client: c } = client(fetch, { retry: { now: () => now, sleep: () => Promise.resolve() } });
    await c.request({ method: 'GET', path: '/v2/a/tags/list', scopes: [pull('a')], expect: [200] });
    now += 30_000;
    await c.request({ method: 'GET', path: '/v2/a/tags/list', scopes: [pull('a')], expect: [200] });
    assert.equal(issued, 1, 'still fresh after 30 s');
    now += 25_000;
    await c.request({ method: 'GET', path: '/v2/a/tags/list', scopes: [pull('a')], expect: [200] });
    assert.equal(issued, 2, 'renewed within the margin before expiry');
    assert.equal(c.stats.challenges, 1, 'no 401 was needed to renew');
  });

  it('answers a Basic challenge with the credentials, sends them up front from then on, and gives up on refusal', async () => {
    const good = `Basic ${Buffer.from('u:right').toString('base64')}`;
    const { fetch, calls } = scripted((call) =>
      call.authorization === good ? ok() : new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="Registry"' } }),
    );
    const { client: c } = client(fetch, { credentials: { username: 'u', password: 'right' } });
    await c.request({ method: 'GET', path: '/v2/a/manifests/1', scopes: [pull('a')], expect: [200] });
    await c.request({ method: 'GET', path: '/v2/a/manifests/2', scopes: [pull('a')], expect: [200] });
    assert.deepEqual(
      calls.map((c) => c.authorization),
      [null, good, good],
    );

    const wrong = client(fetch, { credentials: { username: 'u', password: 'wrong' } });
    await assert.rejects(
      wrong.client.request({ method: 'GET', path: '/v2/a/manifests/1', scopes: [pull('a')], expect: [200] }),
      (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.match(error.message, /^401 UNAUTHORIZED: registry\.example refused the credentials of user 'u'/);
        assert.doesNotMatch(error.message, /wrong/);
        return true;
      },
    );
    assert.equal(wrong.client.stats.requests, 2, 'one try with the credentials, no loop');

    const none = client(fetch);
    await assert.rejects(
      none.client.request({ method: 'GET', path: '/v2/a/manifests/1', scopes: [pull('a')], expect: [200] }),
      /needs credentials for this/,
    );

    // The label says where the credentials come from (or would be set): the task's input.
    const labelled = client(fetch, { credentials: { username: 'u', password: 'wrong' }, credentialsLabel: "input 'containerRegistry'" });
    await assert.rejects(
      labelled.client.request({ method: 'GET', path: '/v2/a/manifests/1', scopes: [pull('a')], expect: [200] }),
      /refused the credentials of user 'u' \(input 'containerRegistry'\): check the service connection's user name and password/,
    );
    const unset = client(fetch, { credentialsLabel: "input 'targetContainerRegistry'" });
    await assert.rejects(
      unset.client.request({ method: 'GET', path: '/v2/a/manifests/1', scopes: [pull('a')], expect: [200] }),
      /registry\.example needs credentials for this: set input 'targetContainerRegistry' to a service connection for it/,
    );
  });

  it('requests sent together before the scheme is known: one is challenged, the others wait and go with its credentials', async () => {
    const good = `Basic ${Buffer.from('u:right').toString('base64')}`;
    const { fetch, calls } = scripted((call) =>
      call.authorization === good ? ok() : new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="Registry"' } }),
    );
    const { client: c } = client(fetch, { credentials: { username: 'u', password: 'right' } });
    await Promise.all(
      ['1', '2', '3'].map((tag) => c.request({ method: 'GET', path: `/v2/a/manifests/${tag}`, scopes: [pull('a')], expect: [200] })),
    );
    assert.deepEqual(
      calls.map((call) => call.authorization),
      [null, good, good, good],
    );
    assert.equal(c.stats.challenges, 1);
  });

  it('retries 5xx, 429 (waiting what Retry-After says) and dropped connections for replayable requests', async () => {
    const script: Array<() => Response> = [
      () => new Response('{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}', { status: 503 }),
      () => new Response('', { status: 429, headers: { 'retry-after': '2' } }),
      () => {
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
      },
      () => ok('done'),
    ];
    const { fetch } = scripted(() => script.shift()!());
    const { client: c, delays } = client(fetch);
    const response = await c.request({ method: 'PUT', path: '/v2/a/manifests/v1', scopes: [], body: Buffer.from('{}'), expect: [200] });
    assert.equal(response.body.toString(), 'done');
    assert.deepEqual(delays, [125, 2000, 500], 'backoff 250·2^(n-1) with jitter 0 is halved; Retry-After: 2 is 2000 ms');
    assert.equal(c.stats.retries, 3);
  });

  it('reports a connection that keeps failing as a temporary NETWORK_ERROR after the last attempt', async () => {
    const { fetch, calls } = scripted(() => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
      });
    });
    const { client: c } = client(fetch, { retry: { attempts: 3, sleep: () => Promise.resolve() } });
    await assert.rejects(c.request({ method: 'GET', path: '/v2/a/manifests/v1', scopes: [], expect: [200] }), (error: unknown) => {
      assert.ok(error instanceof RegistryError);
      assert.equal(error.code, 'NETWORK_ERROR');
      assert.equal(error.temporary, true);
      assert.match(
        error.message,
        /^NETWORK_ERROR: fetch failed: connect ECONNREFUSED 127\.0\.0\.1:9 \(GET https:\/\/registry\.example\/v2\/a\/manifests\/v1\)$/,
      );
      return true;
    });
    assert.equal(calls.length, 3);
  });

  it('never retries a request that is not idempotent or whose body is a stream', async () => {
    const { fetch, calls } = scripted(() => new Response('', { status: 503 }));
    const { client: c } = client(fetch);
    await assert.rejects(c.request({ method: 'POST', path: '/v2/a/blobs/uploads/', scopes: [], expect: [202] }), /503 UNAVAILABLE/);
    assert.equal(calls.length, 1);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([1, 2, 3]));
        controller.close();
      },
    });
    await assert.rejects(c.request({ method: 'PUT', path: '/v2/a/blobs/uploads/x', scopes: [], body: stream, expect: [201] }), /503/);
    assert.equal(calls.length, 2);
  });

  it('sends no registry credentials to a location on another origin (a storage redirect or upload URL)', async () => {
    const { fetch, calls } = scripted((call) => {
      if (call.url.startsWith(REALM)) return tokenResponse('T');
      if (call.url.startsWith('https://storage.example')) return new Response(null, { status: 201 });
      return call.authorization
        ? new Response(null, { status: 202, headers: { location: 'https://storage.example/up?sig=abc' } })
        : bearerChallenge();
    });
    const { client: c } = client(fetch, { credentials: { username: 'u', password: 'p' } });
    const started = await c.request({
      method: 'POST',
      path: '/v2/a/blobs/uploads/',
      scopes: ['repository:a:push'],
      expect: [202],
      idempotent: true,
    });
    await c.request({ method: 'PUT', path: started.headers.get('location')!, scopes: ['repository:a:push'], body: 'x', expect: [201] });
    assert.equal(calls.at(-1)!.url, 'https://storage.example/up?sig=abc');
    assert.equal(calls.at(-1)!.authorization, null);
  });

  it('refuses a buffered body larger than the limit', async () => {
    const { fetch } = scripted(() => ok('x'.repeat(100)));
    const { client: c } = client(fetch);
    await assert.rejects(
      c.request({ method: 'GET', path: '/v2/a/manifests/v1', scopes: [], expect: [200], maxBodyBytes: 10 }),
      /TOO_LARGE: the response has 100 bytes, more than the 10 accepted/,
    );
  });

  it('talks http to loopback registries and https (Docker Hub: registry-1.docker.io) to the others', () => {
    const fetch = scripted(() => ok()).fetch;
    assert.equal(new RegistryClient({ registry: '127.0.0.1:5000', fetch }).baseUrl, 'http://127.0.0.1:5000');
    assert.equal(new RegistryClient({ registry: 'localhost:5000', fetch }).baseUrl, 'http://localhost:5000');
    assert.equal(new RegistryClient({ registry: 'myrepo.azurecr.io', fetch }).baseUrl, 'https://myrepo.azurecr.io');
    assert.equal(new RegistryClient({ registry: 'docker.io', fetch }).baseUrl, 'https://registry-1.docker.io');
  });
});
