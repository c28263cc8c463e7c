// networkFetch (shared/src/net): Node's own fetch with our dispatcher, against real local servers (Node http/https
// with the suite's CA) and a real squid; and the one-line descriptions of connection failures.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { describeConnectionFailure, networkFetch, ProxyError, type NetworkOptions, type ProxyServer } from '../../shared/src/net';
import { RegistryClient, resolveDigest } from '../../shared/src/registry';
import { pushRandomImage } from '../support/images';
import { registryAvailable, startRegistry } from '../support/registries';
import { needOrSkip } from '../support/env';
import { requireSquid, startSquid, type TestSquid } from '../support/squid';
import { createTestPki, type ClientCertificate, type ServerCertificate, type TestPki } from '../support/tls';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  clientCertificate?: string;
}

/** A server that records what it got and answers per path: /redirect → 307 to `?to=`, else 200 with the body length. */
async function recordingServer(
  tlsOptions?: https.ServerOptions,
): Promise<{ url: string; port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const peer = (req.socket as tls.TLSSocket).getPeerCertificate?.();
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        clientCertificate: peer?.subject?.CN,
      });
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/redirect') {
        res.writeHead(307, { location: url.searchParams.get('to') ?? '/' });
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`got ${Buffer.concat(chunks).length}`);
    });
  };
  const server = tlsOptions ? https.createServer(tlsOptions, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tlsOptions ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const proxyOf = (squid: TestSquid, password = squid.user.password): ProxyServer => ({
  url: squid.url,
  username: squid.user.username,
  password,
  setting: 'Agent.ProxyUrl',
  credentialsSetting: 'Agent.ProxyUsername and Agent.ProxyPassword',
});

describe('networkFetch (shared/src/net)', function () {
  let pki: TestPki;
  let serverCertificate: ServerCertificate;
  let clientCertificate: ClientCertificate;

  before(async function () {
    this.timeout(60_000);
    pki = await createTestPki();
    serverCertificate = await pki.issueServer('server', ['registry.outerloop.test', '127.0.0.1']);
    clientCertificate = await pki.issueClient('unit-agent');
  });
  after(() => pki?.remove());

  const tlsServer = (extra: https.ServerOptions = {}) =>
    recordingServer({ cert: fs.readFileSync(serverCertificate.certificate), key: fs.readFileSync(serverCertificate.key), ...extra });

  describe('direct, with the dispatcher (certificates set)', () => {
    it("sends a caller's Content-Length once (fetch adds its own; a doubled value is a 400 from strict servers)", async () => {
      const server = await tlsServer();
      try {
        const response = await networkFetch({ tls: { caFile: pki.caCertificate } })(`${server.url}/upload`, {
          method: 'PUT',
          headers: { 'content-length': '5', 'content-type': 'application/octet-stream' },
          body: new TextEncoder().encode('hello'),
        });
        assert.equal(response.status, 200);
        assert.equal(await response.text(), 'got 5');
        const lengths = server.seen[0].rawHeaders.filter((_, i, all) => i % 2 === 0 && all[i].toLowerCase() === 'content-length').length;
        assert.equal(lengths, 1);
        assert.equal(server.seen[0].headers['content-length'], '5');
      } finally {
        await server.close();
      }
    });

    it('streams a body of unknown length (chunked) and a HEAD gets no body', async () => {
      const server = await tlsServer();
      try {
        const fetch = networkFetch({ tls: { caFile: pki.caCertificate } });
        const parts = [new Uint8Array(70_000).fill(1), new Uint8Array(3).fill(2)];
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (const part of parts) controller.enqueue(part);
            controller.close();
          },
        });
        const response = await fetch(`${server.url}/stream`, { method: 'PATCH', body, duplex: 'half' });
        assert.equal(await response.text(), 'got 70003');
        assert.equal(server.seen[0].headers['transfer-encoding'], 'chunked');
        const head = await fetch(`${server.url}/head`, { method: 'HEAD' });
        assert.equal(head.status, 200);
        assert.equal((await head.arrayBuffer()).byteLength, 0);
      } finally {
        await server.close();
      }
    });

    it("follows a redirect to another origin without the caller's Authorization (fetch's own rule, kept)", async () => {
      const target = await tlsServer();
      const origin = await recordingServer();
      try {
        const fetch = networkFetch({ tls: { caFile: pki.caCertificate } });
        const response = await fetch(`${origin.url}/redirect?to=${encodeURIComponent(`${target.url}/blob`)}`, {
          headers: { authorization: 'Bearer not-for-storage' },
        });
        assert.equal(response.status, 200);
        assert.equal(response.url, `${target.url}/blob`);
        assert.equal(origin.seen[0].headers.authorization, 'Bearer not-for-storage');
        assert.equal(target.seen[0].headers.authorization, undefined);
      } finally {
        await Promise.all([target.close(), origin.close()]);
      }
    });

    it("an aborted request rejects with the signal's reason", async () => {
      const server = await tlsServer();
      try {
        const controller = new AbortController();
        const pending = networkFetch({ tls: { caFile: pki.caCertificate } })(`${server.url}/x`, { signal: controller.signal });
        controller.abort(new Error('the job was cancelled'));
        await assert.rejects(pending, /the job was cancelled/);
      } finally {
        await server.close();
      }
    });

    it('offers the client certificate to a server that asks for one; without one, says which setting to fill', async () => {
      const server = await tlsServer({ requestCert: true, rejectUnauthorized: true, ca: fs.readFileSync(pki.caCertificate) });
      try {
        const options: NetworkOptions = {
          tls: {
            caFile: pki.caCertificate,
            certFile: clientCertificate.certificate,
            keyFile: clientCertificate.key,
            passphrase: clientCertificate.passphrase,
          },
        };
        assert.equal((await networkFetch(options)(`${server.url}/mtls`)).status, 200);
        assert.equal(server.seen[0].clientCertificate, 'unit-agent');
        const refused = await networkFetch({ tls: { caFile: pki.caCertificate } })(`${server.url}/mtls`).catch((error: unknown) => error);
        assert.ok(refused instanceof Error);
        assert.match(
          describeConnectionFailure(refused, `${server.url}/mtls`, {
            tls: { caFile: pki.caCertificate },
            settings: { clientCertificate: 'Agent.ClientCert' },
          }).message,
          /asks for a client certificate \(ERR_SSL_.*\): set Agent\.ClientCert$/,
        );
      } finally {
        await server.close();
      }
    });

    it('an untrusted certificate fails, described as such and not temporary; skipping validation lets it through', async () => {
      const server = await tlsServer();
      try {
        const error = await networkFetch({ tls: {} })(`${server.url}/x`).catch((e: unknown) => e);
        const failure = describeConnectionFailure(error, `${server.url}/x`, {
          settings: { ca: 'Agent.CAInfo', skipCertValidation: 'Agent.SkipCertValidation' },
        });
        assert.match(
          failure.message,
          /^the certificate of 127\.0\.0\.1:\d+ is not trusted \([A-Z_]+\): add its CA to Agent\.CAInfo \(or set Agent\.SkipCertValidation\)$/,
        );
        assert.equal(failure.temporary, false);
        assert.equal((await networkFetch({ tls: { rejectUnauthorized: false } })(`${server.url}/x`)).status, 200);
      } finally {
        await server.close();
      }
    });
  });

  describe('through squid', () => {
    let squid: TestSquid;
    before(async function () {
      requireSquid(this);
      squid = await startSquid();
    });
    after(() => squid?.stop());

    it('https:// goes through an authenticated CONNECT tunnel; loopback stays direct', async () => {
      const server = await tlsServer();
      try {
        const options: NetworkOptions = { httpsProxy: proxyOf(squid), tls: { caFile: pki.caCertificate } };
        const from = squid.accessLog().length;
        assert.equal(await (await networkFetch(options)(`https://registry.outerloop.test:${server.port}/tunnelled`)).text(), 'got 0');
        assert.equal(await (await networkFetch(options)(`${server.url}/direct`)).text(), 'got 0');
        // Keep-alive holds the tunnel open; squid logs a tunnel when it closes.
        await server.close();
        const entries = await squid.waitForEntries(from, (e) => e.method === 'CONNECT');
        assert.deepEqual(
          entries.map((e) => [e.url, e.result, e.user]),
          [[`registry.outerloop.test:${server.port}`, 'TCP_TUNNEL/200', squid.user.username]],
        );
        assert.deepEqual(
          server.seen.map((s) => s.url),
          ['/tunnelled', '/direct'],
        );
      } finally {
        await server.close();
      }
    });

    it('http:// goes to the proxy as an absolute-form request (no tunnel), with the proxy credentials', async () => {
      const server = await recordingServer();
      try {
        const from = squid.accessLog().length;
        const response = await networkFetch({ httpProxy: proxyOf(squid) })(`http://registry.outerloop.test:${server.port}/forwarded?x=1`);
        assert.equal(await response.text(), 'got 0');
        const [entry] = await squid.waitForEntries(from, (e) => e.method === 'GET');
        assert.deepEqual(
          [entry.url, entry.result, entry.user],
          [`http://registry.outerloop.test:${server.port}/forwarded?x=1`, 'TCP_MISS/200', squid.user.username],
        );
        assert.equal(server.seen[0].headers['proxy-authorization'], undefined, 'the proxy credentials stop at the proxy');
      } finally {
        await server.close();
      }
    });

    for (const scheme of ['https', 'http'] as const) {
      it(`${scheme}://: a wrong proxy password is a ProxyError 407 naming the settings, not temporary`, async () => {
        const proxy = proxyOf(squid, 'wrong');
        const url = `${scheme}://registry.outerloop.test/x`;
        const error = await networkFetch({ httpsProxy: proxy, httpProxy: proxy })(url).catch((e: unknown) => e);
        assert.ok((error as { cause?: unknown }).cause instanceof ProxyError, String(error));
        const failure = describeConnectionFailure(error, url, {});
        assert.match(
          failure.message,
          /^the proxy http:\/\/127\.0\.0\.1:\d+ \(Agent\.ProxyUrl\) refused the credentials of user 'agent-proxy': 407 Proxy Authentication Required; check Agent\.ProxyUsername and Agent\.ProxyPassword$/,
        );
        assert.equal(failure.temporary, false);
      });
    }

    it('RegistryClient: the registry over HTTPS and its token service over HTTP both go through the proxy', async function () {
      needOrSkip(this, registryAvailable(), 'distribution registry (/usr/bin/docker-registry)');
      // Seeded through a plain twin on the same storage; the task-facing twin names its token realm by a name only squid knows.
      const plain = await startRegistry('token', { anonymousGrants: { '*': ['pull'] } });
      const secure = await startRegistry('token', {
        tls: serverCertificate,
        storageDir: plain.storageDir,
        anonymousGrants: { '*': ['pull'] },
        tokenRealmHost: 'registry.outerloop.test',
      });
      try {
        const image = await pushRandomImage(plain, 'unit-token/app', 'v1', { layers: 1, seed: 901 });
        const host = `registry.outerloop.test:${secure.host.split(':')[1]}`;
        const network: NetworkOptions = { httpsProxy: proxyOf(squid), httpProxy: proxyOf(squid), tls: { caFile: pki.caCertificate } };
        const from = squid.accessLog().length;
        const client = new RegistryClient({ registry: host, network });
        assert.equal((await resolveDigest(client, `${host}/unit-token/app:v1`)).digest, image.digest);
        assert.equal(client.stats.tokenRequests, 1);
        const issuerPort = new URL(secure.tokenIssuer!.realm).port;
        const [token] = await squid.waitForEntries(from, (e) => e.method === 'GET');
        assert.match(token.url, new RegExp(`^http://registry\\.outerloop\\.test:${issuerPort}/token\\?service=`));
        assert.equal(token.result, 'TCP_MISS/200');
      } finally {
        await Promise.all([secure.stop(), plain.stop()]);
      }
    });

    it('a proxy that is not there: named, and temporary', async () => {
      const proxy = { ...proxyOf(squid), url: 'http://127.0.0.1:1' };
      const error = await networkFetch({ httpsProxy: proxy })('https://registry.outerloop.test/v2/').catch((e: unknown) => e);
      const failure = describeConnectionFailure(error, 'https://registry.outerloop.test/v2/', {});
      assert.match(failure.message, /^could not connect to the proxy http:\/\/127\.0\.0\.1:1 \(Agent\.ProxyUrl\): .*ECONNREFUSED/);
      assert.equal(failure.temporary, true);
    });
  });

  describe('a name that does not resolve', () => {
    const url = 'https://registry.outerloop.test/v2/';
    const settings = { proxy: 'Agent.ProxyUrl or HTTPS_PROXY', bypass: 'Agent.ProxyBypassList' };
    let error: unknown;
    before(async () => {
      error = await networkFetch({ tls: {} })(url).catch((e: unknown) => e);
    });
    it('without a proxy: asks whether one is needed', () => {
      assert.deepEqual(describeConnectionFailure(error, url, { settings }), {
        message: 'could not resolve registry.outerloop.test (ENOTFOUND): is a proxy needed (Agent.ProxyUrl or HTTPS_PROXY)?',
        temporary: false,
      });
    });
    it('bypassed: says which list sent it direct', () => {
      const proxy: ProxyServer = { url: 'http://proxy:3128', setting: 'Agent.ProxyUrl', credentialsSetting: '' };
      assert.match(
        describeConnectionFailure(error, url, { httpsProxy: proxy, bypass: [/outerloop/], settings }).message,
        /; it is reached directly \(Agent\.ProxyBypassList\): should it go through the proxy\?$/,
      );
    });
  });

  it("without a proxy or certificates it is Node's fetch as it is", async () => {
    const server = await recordingServer();
    try {
      assert.equal(await (await networkFetch(undefined)(`${server.url}/plain`)).text(), 'got 0');
      assert.equal(await (await networkFetch({ noProxy: '*' })(`${server.url}/plain`)).text(), 'got 0');
    } finally {
      await server.close();
    }
  });
});
