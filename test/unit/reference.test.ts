import { strict as assert } from 'node:assert';
import {
  canonicalRegistry,
  formatPinned,
  formatReference,
  formatRepository,
  formatTagged,
  InvalidReferenceError,
  isDigest,
  isLoopbackHost,
  isTag,
  parseDigest,
  parseReference,
  parseRepository,
  registryApiHost,
  registryBaseUrl,
  sameRegistry,
  sha256Digest,
  type ImageReference,
} from '../../shared/src/reference';

const D = `sha256:${'ab'.repeat(32)}` as const;

function parsed(text: string, defaultRegistry?: string): ImageReference {
  return parseReference(text, { defaultRegistry });
}

function reasonOf(text: string): string {
  try {
    parseReference(text);
  } catch (error) {
    assert.ok(error instanceof InvalidReferenceError, `expected InvalidReferenceError for '${text}', got ${String(error)}`);
    assert.equal(error.text, text);
    return error.reason;
  }
  assert.fail(`'${text}' parsed, but it is not a valid reference`);
}

describe('image references (distribution/reference grammar)', () => {
  describe('valid references', () => {
    const cases: Array<[string, ImageReference]> = [
      ['nginx', { registry: 'docker.io', repository: 'library/nginx' }],
      ['nginx:1.25', { registry: 'docker.io', repository: 'library/nginx', tag: '1.25' }],
      ['team/app:1.4.0', { registry: 'docker.io', repository: 'team/app', tag: '1.4.0' }],
      ['docker.io/nginx', { registry: 'docker.io', repository: 'library/nginx' }],
      ['index.docker.io/team/app:v1', { registry: 'docker.io', repository: 'team/app', tag: 'v1' }],
      ['registry-1.docker.io/library/busybox', { registry: 'docker.io', repository: 'library/busybox' }],
      ['myrepo.azurecr.io/delivery:v1.0.2', { registry: 'myrepo.azurecr.io', repository: 'delivery', tag: 'v1.0.2' }],
      ['localhost/app', { registry: 'localhost', repository: 'app' }],
      ['localhost:5000/app:latest', { registry: 'localhost:5000', repository: 'app', tag: 'latest' }],
      ['127.0.0.1:5000/a/b/c/d:t', { registry: '127.0.0.1:5000', repository: 'a/b/c/d', tag: 't' }],
      ['[::1]:5000/team/app', { registry: '[::1]:5000', repository: 'team/app' }],
      ['Registry.Example.COM/team/app', { registry: 'Registry.Example.COM', repository: 'team/app' }],
      ['r.io/a.b/c_d/e__f/g-h/i---j:x', { registry: 'r.io', repository: 'a.b/c_d/e__f/g-h/i---j', tag: 'x' }],
      ['r.io/team/app:_under.score-Tag', { registry: 'r.io', repository: 'team/app', tag: '_under.score-Tag' }],
      [`r.io/team/app@${D}`, { registry: 'r.io', repository: 'team/app', digest: D }],
      [`r.io/team/app:v1@${D}`, { registry: 'r.io', repository: 'team/app', tag: 'v1', digest: D }],
      [`team/app@${D}`, { registry: 'docker.io', repository: 'team/app', digest: D }],
      [`r.io:443/team/app:${'t'.repeat(128)}`, { registry: 'r.io:443', repository: 'team/app', tag: 't'.repeat(128) }],
      ['  r.io/team/app:v1  ', { registry: 'r.io', repository: 'team/app', tag: 'v1' }],
    ];
    for (const [text, expected] of cases) {
      it(`parses '${text}'`, () => assert.deepEqual(parsed(text), expected));
    }
  });

  it('takes the host from defaultRegistry for names without one, and adds library/ only on Docker Hub', () => {
    assert.deepEqual(parsed('team/app:v1', 'myrepo.azurecr.io'), { registry: 'myrepo.azurecr.io', repository: 'team/app', tag: 'v1' });
    assert.deepEqual(parsed('app', 'myrepo.azurecr.io'), { registry: 'myrepo.azurecr.io', repository: 'app' });
    assert.deepEqual(parsed('other.io/app', 'myrepo.azurecr.io'), { registry: 'other.io', repository: 'app' });
    assert.deepEqual(parsed('app', 'index.docker.io'), { registry: 'docker.io', repository: 'library/app' });
  });

  describe('invalid references say what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['Team/SVC::1.4.0', /repository names are lower case/],
      ['r.io/Team/app', /repository names are lower case/],
      ['', /empty/],
      ['   ', /empty/],
      ['r.io/team app', /white space/],
      ['r.io/team/app:', /tag is empty/],
      ['r.io/team/app:-bad', /starts with '-'/],
      ['r.io/team/app:.bad', /starts with '\.'/],
      [`r.io/team/app:${'t'.repeat(129)}`, /at most 128 characters/],
      ['r.io/team/app:bad+tag', /only letters, digits/],
      ['r.io/team/app@sha256:abc', /64 hex characters, this one has 3/],
      [`r.io/team/app@sha512:${'a'.repeat(128)}`, /only sha256 digests are supported, got 'sha512'/],
      [`r.io/team/app@sha256:${'g'.repeat(64)}`, /only hex characters/],
      [`r.io/team/app@sha256:${'A'.repeat(64)}`, /lower case/],
      ['r.io/team/app@', /digest is 'sha256:'/],
      [`r.io/team/app@${D}@${D}`, /more than one '@'/],
      ['r.io/', /needs a repository path/],
      ['r.io//app', /empty segment/],
      ['r.io/app/', /empty segment/],
      ['/app', /empty segment/],
      ['r.io/-app', /path segment '-app'/],
      ['r.io/app_', /path segment 'app_'/],
      ['r.io/a___b', /path segment 'a___b'/],
      ['r.io/a..b', /path segment 'a\.\.b'/],
      ['r.io:port/app', /port 'port' is not a number/],
      ['r.io:70000/app', /out of range/],
      ['-r.io/app', /not a valid host name/],
      ['r..io/app', /not a valid host name/],
      ['[::1/app', /unclosed/],
      ['https://r.io/team/app', /drop the 'https:\/\/' prefix/],
      [`r.io/${'a'.repeat(256)}`, /at most 255 characters/],
      ['host:5000:tag', /needs a repository path/],
    ];
    for (const [text, reason] of cases) {
      it(`rejects '${text.length > 40 ? `${text.slice(0, 40)}…` : text}'`, () => assert.match(reasonOf(text), reason));
    }

    it("words the message as the input error shows it: not an image reference: '<text>' (<reason>)", () => {
      assert.throws(() => parseReference('Team/SVC::1.4.0'), {
        name: 'InvalidReferenceError',
        message: "not an image reference: 'Team/SVC::1.4.0' (repository names are lower case)",
      });
    });
  });

  it('parses repositories without tag or digest, and refuses one with a tag', () => {
    assert.deepEqual(parseRepository('team/app', { defaultRegistry: 'r.io' }), { registry: 'r.io', repository: 'team/app' });
    assert.throws(
      () => parseRepository('r.io/team/app:v1'),
      /not a repository: 'r.io\/team\/app:v1' \(a repository has no tag or digest\)/,
    );
  });

  it('formats references back in the full form', () => {
    const ref = parsed(`r.io:5000/team/app:v1@${D}`);
    assert.equal(formatReference(ref), `r.io:5000/team/app:v1@${D}`);
    assert.equal(formatRepository(ref), 'r.io:5000/team/app');
    assert.equal(formatTagged(ref, 'v2'), 'r.io:5000/team/app:v2');
    assert.equal(formatPinned(ref, D), `r.io:5000/team/app@${D}`);
    assert.equal(formatReference(parsed('nginx')), 'docker.io/library/nginx');
    for (const text of ['r.io/a/b:c', `localhost:5000/x@${D}`, `docker.io/library/nginx:1@${D}`]) {
      assert.equal(formatReference(parsed(text)), text, 'round trip');
    }
  });

  it('reaches loopback registries over http and every other over https; Docker Hub at registry-1.docker.io', () => {
    for (const host of [
      'localhost',
      'localhost:5000',
      '127.0.0.1',
      '127.0.0.1:5000',
      '127.255.0.9:80',
      '[::1]',
      '[::1]:5000',
      'LOCALHOST:1',
    ]) {
      assert.equal(isLoopbackHost(host), true, host);
    }
    for (const host of [
      'r.io',
      'r.io:5000',
      '128.0.0.1:5000',
      '127.0.0.1.nip.io',
      '10.0.0.1',
      'localhost.example.com',
      '[::2]',
      '127.0.0.256',
    ]) {
      assert.equal(isLoopbackHost(host), false, host);
    }
    assert.equal(registryBaseUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000');
    assert.equal(registryBaseUrl('[::1]:5000'), 'http://[::1]:5000');
    assert.equal(registryBaseUrl('myrepo.azurecr.io'), 'https://myrepo.azurecr.io');
    assert.equal(registryBaseUrl('docker.io'), 'https://registry-1.docker.io');
    assert.equal(registryApiHost('index.docker.io'), 'registry-1.docker.io');
    assert.equal(canonicalRegistry('Index.Docker.IO'), 'docker.io');
    assert.equal(sameRegistry('R.io', 'r.io'), true);
    assert.equal(sameRegistry('docker.io', 'registry-1.docker.io'), true);
    assert.equal(sameRegistry('r.io:5000', 'r.io'), false);
  });

  it('computes and checks sha256 digests', () => {
    assert.equal(sha256Digest(''), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    assert.equal(sha256Digest(Buffer.from('abc')), 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(isDigest(D), true);
    assert.equal(isDigest(D.toUpperCase()), false);
    assert.equal(isDigest(`sha512:${'a'.repeat(64)}`), false);
    assert.equal(isDigest(D.slice(0, -1)), false);
    assert.equal(parseDigest(` ${D} `), D);
    assert.throws(() => parseDigest('md5:abc'), /not a digest: 'md5:abc' \(only sha256 digests are supported, got 'md5'\)/);
    assert.equal(isTag('v1.0.2'), true);
    assert.equal(isTag('.v1'), false);
  });
});
