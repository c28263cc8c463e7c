// Which requests go through the proxy: the agent's bypass list, NO_PROXY as curl reads it, and the hosts that are
// always reached directly (loopback, the instance metadata address).
import { strict as assert } from 'node:assert';
import { isAlwaysDirect, matchesBypassList, matchesNoProxy, proxyFor, type NetworkOptions, type ProxyServer } from '../../shared/src/net';

const proxy: ProxyServer = {
  url: 'http://proxy.corp:3128',
  setting: 'Agent.ProxyUrl',
  credentialsSetting: 'Agent.ProxyUsername and Agent.ProxyPassword',
};
const plainProxy: ProxyServer = { ...proxy, url: 'http://plain-proxy.corp:3128' };

describe('network routing (shared/src/net/route.ts)', () => {
  describe('always direct', () => {
    for (const url of [
      'https://localhost:5000/v2/',
      'http://127.0.0.1:5000/v2/',
      'https://127.12.0.3/',
      'http://[::1]:8080/',
      'http://169.254.169.254/metadata/identity/oauth2/token',
    ]) {
      it(url, () => {
        assert.equal(isAlwaysDirect(new URL(url)), true);
        assert.equal(proxyFor(new URL(url), { httpsProxy: proxy, httpProxy: proxy }), undefined);
      });
    }
    for (const url of ['https://myacr.azurecr.io/v2/', 'https://localhost.corp/', 'http://128.0.0.1/', 'http://169.254.169.253/']) {
      it(`not ${url}`, () => assert.equal(isAlwaysDirect(new URL(url)), false));
    }
  });

  describe('the proxy for each scheme', () => {
    const options: NetworkOptions = { httpsProxy: proxy, httpProxy: plainProxy };
    it('https:// URLs take the https proxy, http:// the http one', () => {
      assert.equal(proxyFor(new URL('https://registry.corp/v2/'), options), proxy);
      assert.equal(proxyFor(new URL('http://registry.corp/v2/'), options), plainProxy);
    });
    it('a scheme without a proxy goes direct', () => {
      assert.equal(proxyFor(new URL('http://registry.corp/v2/'), { httpsProxy: proxy }), undefined);
      assert.equal(proxyFor(new URL('https://registry.corp/v2/'), undefined), undefined);
    });
  });

  describe("the agent's bypass list (regular expressions against scheme://host[:port], case-insensitive, as the agent tests them)", () => {
    const bypass = [/\.internal\.corp$/i, /^https:\/\/registry\.corp(:\d+)?$/i, /10\.0\.0\.\d+/i];
    const cases: [string, boolean][] = [
      ['https://registry.corp/v2/', true],
      ['https://REGISTRY.corp:5000/v2/', true],
      ['https://registry.corp.evil/v2/', false],
      ['http://registry.corp/v2/', false],
      ['https://a.internal.corp/v2/team/app/manifests/1', true],
      ['https://a.internal.corp:8443/v2/', false],
      ['https://10.0.0.7/v2/', true],
      ['https://myacr.azurecr.io/v2/10.0.0.7', false],
      ['https://myacr.azurecr.io/v2/', false],
    ];
    for (const [url, bypassed] of cases) {
      it(`${url} → ${bypassed ? 'direct' : 'proxy'}`, () => {
        assert.equal(matchesBypassList(new URL(url), bypass), bypassed);
        assert.equal(proxyFor(new URL(url), { httpsProxy: proxy, httpProxy: proxy, bypass }), bypassed ? undefined : proxy);
      });
    }
    it('a global-flag pattern gives the same answer every time (no lastIndex carried over)', () => {
      const sticky = [/registry/gi];
      for (let i = 0; i < 3; i++) assert.equal(matchesBypassList(new URL('https://registry.corp/v2/'), sticky), true);
    });
  });

  describe("NO_PROXY (curl's rules; a port, when given, must match too)", () => {
    const cases: [string, string, boolean][] = [
      ['*', 'https://anything.example/', true],
      ['example.com', 'https://example.com/', true],
      ['example.com', 'https://www.example.com/', true],
      ['example.com', 'https://notexample.com/', false],
      ['.example.com', 'https://example.com/', true],
      ['.example.com', 'https://a.b.example.com/', true],
      ['example.com.', 'https://www.example.com/', true],
      ['EXAMPLE.com', 'https://www.Example.COM/', true],
      ['example.com', 'https://www.example.com./', true],
      ['foo.com, example.com', 'https://x.example.com/', true],
      ['foo.com example.com', 'https://x.example.com/', true],
      ['foo.com,,bar.com', 'https://example.com/', false],
      ['example.com:5000', 'https://example.com:5000/', true],
      ['example.com:5000', 'https://example.com/', false],
      ['example.com:443', 'https://example.com/', true],
      ['example.com:80', 'http://www.example.com/', true],
      ['10.1.2.3', 'https://10.1.2.3/', true],
      ['10.1.2.3', 'https://10.1.2.30/', false],
      ['10.0.0.0/8', 'https://10.200.3.4/', true],
      ['10.0.0.0/8', 'https://11.0.0.1/', false],
      ['10.0.0.0/99', 'https://10.0.0.1/', false],
      ['192.168.1.1:8443', 'https://192.168.1.1:8443/', true],
      ['192.168.1.1:8443', 'https://192.168.1.1/', false],
      ['fd00::/8', 'https://[fd12::1]/', true],
      ['[fd12::1]:5000', 'https://[fd12::1]:5000/', true],
      ['[fd12::1]:5000', 'https://[fd12::1]:6000/', false],
      ['fd12::1', 'https://[fd12::1]/', true],
      ['1.2.3.4', 'https://host.1.2.3.4.example/', false],
      ['', 'https://example.com/', false],
    ];
    for (const [noProxy, url, bypassed] of cases) {
      it(`NO_PROXY='${noProxy}': ${url} → ${bypassed ? 'direct' : 'proxy'}`, () => {
        assert.equal(matchesNoProxy(new URL(url), noProxy), bypassed);
        assert.equal(proxyFor(new URL(url), { httpsProxy: proxy, httpProxy: proxy, noProxy }), bypassed ? undefined : proxy);
      });
    }
  });
});
