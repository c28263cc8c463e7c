import { strict as assert } from 'node:assert';
import { normalizeScopes, parseChallenges, repositoryScope, requestToken, scopesCover } from '../../shared/src/registry/auth';
import { RegistryError } from '../../shared/src/registry/errors';

interface Call {
  url: URL;
  method: string;
  headers: Headers;
  body?: string;
}

/** A fetch that answers from `reply` and records what it was asked. */
function fakeFetch(reply: (call: Call) => Response): { fetch: typeof globalThis.fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const call: Call = {
      url: new URL(input instanceof Request ? input.url : input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : undefined,
    };
    calls.push(call);
    return reply(call);
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('registry auth: challenges, scopes, token requests', () => {
  it('parses Bearer challenges with quoted values, commas inside quotes and escaped quotes', () => {
    assert.deepEqual(
      parseChallenges('Bearer realm="https://auth.r.io/token",service="r.io",scope="repository:a:pull,push repository:b:pull"'),
      [
        {
          scheme: 'bearer',
          params: { realm: 'https://auth.r.io/token', service: 'r.io', scope: 'repository:a:pull,push repository:b:pull' },
        },
      ],
    );
    assert.deepEqual(parseChallenges('bearer Realm="x\\"y", error=insufficient_scope'), [
      { scheme: 'bearer', params: { realm: 'x"y', error: 'insufficient_scope' } },
    ]);
  });

  it('parses several challenges in one header (fetch joins repeated headers with ", ")', () => {
    assert.deepEqual(parseChallenges('Basic realm="Registry Realm", Bearer realm="https://a/token",service="s"'), [
      { scheme: 'basic', params: { realm: 'Registry Realm' } },
      { scheme: 'bearer', params: { realm: 'https://a/token', service: 's' } },
    ]);
    assert.deepEqual(parseChallenges(''), []);
    assert.deepEqual(parseChallenges(null), []);
    assert.deepEqual(parseChallenges('Negotiate'), [{ scheme: 'negotiate', params: {} }]);
  });

  it('merges scopes per repository and checks coverage', () => {
    assert.deepEqual(
      normalizeScopes([
        'repository:b:pull',
        'repository:a:push',
        'repository:a:pull',
        'repository:b:pull',
        'repository:a:push registry:catalog:*',
      ]),
      ['registry:catalog:*', 'repository:a:pull,push', 'repository:b:pull'],
    );
    assert.deepEqual(normalizeScopes([repositoryScope('127.0.0.1:5000/x', ['pull'])]), ['repository:127.0.0.1:5000/x:pull']);
    const held = ['repository:prod/app:pull,push', 'repository:team/app:pull'];
    assert.equal(scopesCover(held, ['repository:team/app:pull']), true);
    assert.equal(scopesCover(held, ['repository:prod/app:push', 'repository:team/app:pull']), true);
    assert.equal(scopesCover(held, ['repository:team/app:push']), false);
    assert.equal(scopesCover(held, ['repository:other:pull']), false);
    assert.equal(scopesCover(['repository:a:*'], ['repository:a:pull,push']), true);
    assert.equal(scopesCover([], []), true);
  });

  it('GETs a token at the realm with Basic credentials, service and one scope parameter per scope', async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { token: 'tok-1', expires_in: 300 }));
    const issued = await requestToken({
      fetch,
      realm: 'https://auth.r.io/token?account=x',
      service: 'r.io',
      scopes: ['repository:team/app:pull', 'repository:prod/team/app:push,pull'],
      credentials: { username: 'sp-id', password: 'sp-secret' },
      registry: 'r.io',
      now: () => 1_000_000,
    });
    assert.equal(calls.length, 1);
    assert.equal(calls[0].method, 'GET');
    assert.equal(calls[0].url.origin + calls[0].url.pathname, 'https://auth.r.io/token');
    assert.equal(calls[0].url.searchParams.get('account'), 'x');
    assert.equal(calls[0].url.searchParams.get('service'), 'r.io');
    assert.deepEqual(calls[0].url.searchParams.getAll('scope'), ['repository:prod/team/app:pull,push', 'repository:team/app:pull']);
    assert.equal(calls[0].headers.get('authorization'), `Basic ${Buffer.from('sp-id:sp-secret').toString('base64')}`);
    assert.equal(issued.token, 'tok-1');
    assert.deepEqual(issued.scopes, ['repository:prod/team/app:pull,push', 'repository:team/app:pull']);
    assert.equal(issued.expiresAt, 1_000_000 + 300_000 - 10_000);
  });

  it('asks anonymously without credentials, reads access_token, and assumes 60 s when expires_in is missing', async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { access_token: 'anon' }));
    const issued = await requestToken({ fetch, realm: 'https://auth.r.io/token', scopes: [], registry: 'r.io', now: () => 0 });
    assert.equal(calls[0].headers.get('authorization'), null);
    assert.equal(issued.token, 'anon');
    assert.equal(issued.expiresAt, 60_000 - 10_000);
    const short = fakeFetch(() => json(200, { token: 't', expires_in: 4 }));
    const brief = await requestToken({ fetch: short.fetch, realm: 'https://a/t', scopes: [], registry: 'r.io', now: () => 0 });
    assert.equal(brief.expiresAt, 2000, 'a short-lived token is kept for half its life');
  });

  it('falls back to the OAuth2 password grant (POST form) when the realm does not answer GET', async () => {
    const { fetch, calls } = fakeFetch((call) =>
      call.method === 'GET' ? json(405, {}) : json(200, { access_token: 'oauth-tok', expires_in: 60 }),
    );
    const issued = await requestToken({
      fetch,
      realm: 'https://auth.r.io/oauth2/token',
      service: 'r.io',
      scopes: ['repository:a:pull'],
      credentials: { username: 'u', password: 'p&=' },
      registry: 'r.io',
      now: () => 0,
    });
    assert.equal(issued.token, 'oauth-tok');
    assert.equal(calls[1].method, 'POST');
    assert.equal(calls[1].headers.get('content-type'), 'application/x-www-form-urlencoded');
    const form = new URLSearchParams(calls[1].body);
    assert.deepEqual(Object.fromEntries(form), {
      grant_type: 'password',
      client_id: 'outer-loop-tasks',
      username: 'u',
      password: 'p&=',
      service: 'r.io',
      scope: 'repository:a:pull',
    });
  });

  it('reports refused credentials without the password, naming the user', async () => {
    const { fetch } = fakeFetch(() => json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
    await assert.rejects(
      requestToken({
        fetch,
        realm: 'https://auth.r.io/token',
        scopes: [],
        credentials: { username: 'ci', password: 'hunter2' },
        registry: 'r.io',
        now: () => 0,
      }),
      (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.equal(error.status, 401);
        assert.equal(error.temporary, false);
        assert.match(error.message, /401 UNAUTHORIZED: invalid username or password; the token service of r\.io refused user 'ci'/);
        assert.doesNotMatch(error.message, /hunter2/);
        return true;
      },
    );
  });

  it('refuses to send credentials to a plain-HTTP realm off the loopback, but allows loopback realms', async () => {
    const { fetch, calls } = fakeFetch(() => json(200, { token: 't' }));
    await assert.rejects(
      requestToken({
        fetch,
        realm: 'http://auth.r.io/token',
        scopes: [],
        credentials: { username: 'u', password: 'p' },
        registry: 'r.io',
        now: () => 0,
      }),
      /refusing to send them unencrypted/,
    );
    assert.equal(calls.length, 0);
    await requestToken({
      fetch,
      realm: 'http://127.0.0.1:9/token',
      scopes: [],
      credentials: { username: 'u', password: 'p' },
      registry: 'r.io',
      now: () => 0,
    });
    await requestToken({ fetch, realm: 'http://auth.r.io/token', scopes: [], registry: 'r.io', now: () => 0 });
    assert.equal(calls.length, 2);
  });

  it('treats a 5xx from the token service as temporary and a response without a token as an error', async () => {
    const busy = fakeFetch(() => new Response('busy', { status: 503, headers: { 'retry-after': '3' } }));
    await assert.rejects(
      requestToken({ fetch: busy.fetch, realm: 'https://a/t', scopes: [], registry: 'r.io', now: () => 0 }),
      (error: unknown) => {
        assert.ok(error instanceof RegistryError && error.temporary && error.retryAfterMs === 3000);
        return true;
      },
    );
    const empty = fakeFetch(() => json(200, { nothing: true }));
    await assert.rejects(
      requestToken({ fetch: empty.fetch, realm: 'https://a/t', scopes: [], registry: 'r.io', now: () => 0 }),
      /answered without a token/,
    );
    await assert.rejects(
      requestToken({ fetch: empty.fetch, realm: 'ftp://a/t', scopes: [], registry: 'r.io', now: () => 0 }),
      /not http\(s\)/,
    );
  });
});
