// The known_hosts reader and matcher behind the host-key check of ssh:// engines, on keys and files made by OpenSSH's
// own ssh-keygen; `ssh-keygen -F` (OpenSSH's lookup) is the oracle for which lines name a host.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  checkHostKey,
  describeHostKeyRefusal,
  fingerprintOf,
  hostFieldMatches,
  hostKeyCheck,
  knownHostsFiles,
  knownHostsName,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  readKnownHosts,
  type KnownHostEntry,
} from '../../shared/src/docker/known-hosts';
import { needOrSkip } from '../support/env';
import { escapeRegExp } from '../support/harness';
import { makeTestKey, type TestHostKey } from '../support/sshd';

const blob = (key: TestHostKey) => Buffer.from(key.publicKey.split(' ')[1], 'base64');

/**
 * The line numbers `ssh-keygen -F` finds for the name ssh looks up (lower-cased: ssh lowers the host name before it
 * looks, ssh-keygen -F does not), marked lines included.
 */
function opensshFinds(file: string, name: string): number[] {
  const found = spawnSync('ssh-keygen', ['-F', knownHostsName(...splitName(name)), '-f', file], { encoding: 'utf8' });
  return [...found.stdout.matchAll(/^# Host \S+ found: line (\d+)/gm)].map((m) => Number(m[1]));
}

const ourFinds = (entries: KnownHostEntry[], name: string) =>
  entries.filter((entry) => hostFieldMatches(entry.hosts, knownHostsName(...splitName(name)))).map((entry) => entry.line);

/** `[host]:port` or `host` back to what knownHostsName takes. */
function splitName(name: string): [string, number] {
  const bracketed = /^\[(.*)\]:(\d+)$/.exec(name);
  return bracketed ? [bracketed[1], Number(bracketed[2])] : [name, 22];
}

describe('known_hosts for ssh:// engines, as OpenSSH reads it', function () {
  let dir: string;
  let a: TestHostKey;
  let b: TestHostKey;
  let rsa: TestHostKey;
  let ecdsa: TestHostKey;

  before(function () {
    needOrSkip(this, !spawnSync('ssh-keygen', ['--help']).error, 'ssh-keygen (Debian package openssh-client)');
    this.timeout(30_000);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-known-hosts-'));
    a = makeTestKey(dir, 'a');
    b = makeTestKey(dir, 'b');
    rsa = makeTestKey(dir, 'rsa', 'rsa');
    ecdsa = makeTestKey(dir, 'ecdsa', 'ecdsa');
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, lines: string[]) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  };

  it('names a host as OpenSSH looks it up: [host]:port off port 22, lower case', () => {
    assert.equal(knownHostsName('Build.Example.com', 22), 'build.example.com');
    assert.equal(knownHostsName('10.0.0.5', 2222), '[10.0.0.5]:2222');
    assert.equal(knownHostsName('[::1]', 2222), '[::1]:2222');
    assert.equal(knownHostsName('[::1]', 22), '::1');
  });

  it('takes key lines with their markers and skips comments, blank lines and lines OpenSSH would not parse', () => {
    const [type, base64] = a.publicKey.split(' ');
    const file = write('parse', [
      '# a comment',
      '',
      `  build.example.com ${a.publicKey} a comment after the key`,
      `build.example.com ${rsa.publicKey}\r`,
      `@revoked * ${b.publicKey}`,
      `@cert-authority *.corp ${ecdsa.publicKey}`,
      `@unknown-marker host ${a.publicKey}`,
      `@revoked @revoked host ${a.publicKey}`,
      `host ${type} not*base64`,
      `host ssh-rsa ${base64}`,
      'host 2048 35 1234567890',
      `host ${type}`,
    ]);
    const entries = parseKnownHosts(fs.readFileSync(file, 'utf8'), file);
    assert.deepEqual(
      entries.map((entry) => [entry.line, entry.marker, entry.hosts, entry.keyType]),
      [
        [3, undefined, 'build.example.com', 'ssh-ed25519'],
        [4, undefined, 'build.example.com', 'ssh-rsa'],
        [5, '@revoked', '*', 'ssh-ed25519'],
        [6, '@cert-authority', '*.corp', 'ecdsa-sha2-nistp256'],
      ],
    );
    assert.ok(entries[0].key.equals(blob(a)), 'the blob is the base64 field, decoded');
    assert.equal(entries[0].file, file);
  });

  describe('which lines name a host: the same as ssh-keygen -F', () => {
    const names = [
      'build.example.com',
      'BUILD.Example.com',
      'bad.example.com',
      'x.example.com',
      'example.com',
      '10.0.0.5',
      '[10.0.0.5]:2222',
      '[10.0.0.5]:2223',
      '[10.0.0.6]:2222',
      'host-1.example.org',
      'host-12.example.org',
      'y.corp',
      'nowhere',
    ];
    const lines = () => [
      `build.example.com,10.0.0.5 ${a.publicKey}`,
      `*.example.com,!bad.example.com ${b.publicKey}`,
      `[10.0.0.5]:2222 ${a.publicKey}`,
      `[10.0.0.*]:2222,![10.0.0.6]:* ${rsa.publicKey}`,
      `host-?.example.org ${ecdsa.publicKey}`,
      `@revoked *.example.com ${rsa.publicKey}`,
      `@cert-authority *.corp ${a.publicKey}`,
    ];

    it('plain patterns: lists, [host]:port, * and ?, !negation, case', () => {
      const file = write('patterns', lines());
      const entries = parseKnownHosts(fs.readFileSync(file, 'utf8'), file);
      for (const name of names) assert.deepEqual(ourFinds(entries, name), opensshFinds(file, name), name);
      assert.deepEqual(ourFinds(entries, '[10.0.0.5]:2222'), [3, 4], 'several keys for one host');
      assert.deepEqual(ourFinds(entries, 'bad.example.com'), [6], 'the negated name matches none of its line');
    });

    it('names hashed by ssh-keygen -H (HMAC-SHA1 under a salt per line)', () => {
      const file = write('hashed', lines());
      execFileSync('ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
      const entries = parseKnownHosts(fs.readFileSync(file, 'utf8'), file);
      assert.ok(entries.filter((entry) => entry.hosts.startsWith('|1|')).length >= 3, fs.readFileSync(file, 'utf8'));
      for (const name of names) assert.deepEqual(ourFinds(entries, name), opensshFinds(file, name), name);
      assert.ok(ourFinds(entries, '[10.0.0.5]:2222').length > 0);

      const hashed = entries.find((entry) => entry.hosts.startsWith('|1|'))!;
      const salt = hashed.hosts.split('|')[2];
      const tampered = hashed.hosts.slice(0, -2) + (hashed.hosts.endsWith('A=') ? 'B=' : 'A=');
      assert.equal(hostFieldMatches(tampered, 'build.example.com'), false, 'the hash must be exact');
      assert.equal(hostFieldMatches(`|1|${salt}|`, 'build.example.com'), false);
      assert.equal(hostFieldMatches('|2|abc|def', 'build.example.com'), false, 'only the |1| form');
    });
  });

  describe('the verdict on an offered key', () => {
    const name = '[10.0.0.5]:2222';
    let entries: KnownHostEntry[];
    before(() => {
      const file = write('verdicts', [
        `[10.0.0.5]:2222 ${rsa.publicKey}`,
        `[10.0.0.5]:2222,build.example.com ${a.publicKey}`,
        `@revoked [10.0.0.5]:* ${ecdsa.publicKey}`,
        `[10.0.0.5]:2222 ${ecdsa.publicKey}`,
        `@cert-authority *.corp ${a.publicKey}`,
        `old.example.com ${b.publicKey}`,
      ]);
      entries = parseKnownHosts(fs.readFileSync(file, 'utf8'), file);
    });

    it('a listed key, among several for the host: ok', () => {
      const verdict = checkHostKey(entries, name, blob(a));
      assert.equal(verdict.status, 'ok');
      assert.equal(verdict.status === 'ok' && verdict.entry.line, 2);
      assert.equal(checkHostKey(entries, name, blob(rsa)).status, 'ok');
    });

    it('a host listed with other keys only: changed', () => {
      const verdict = checkHostKey(entries, name, blob(b));
      assert.equal(verdict.status, 'changed');
      assert.deepEqual(verdict.status === 'changed' && verdict.listed.map((entry) => entry.line), [1, 2, 4]);
      assert.equal(checkHostKey(entries, 'build.example.com', blob(rsa)).status, 'changed', 'another type counts too');
    });

    it('a key a line marks @revoked: revoked, even where another line lists it', () => {
      const verdict = checkHostKey(entries, name, blob(ecdsa));
      assert.equal(verdict.status, 'revoked');
      assert.equal(verdict.status === 'revoked' && verdict.entry.line, 3);
    });

    it('a host no line lists: unknown; a @cert-authority line vouches for no plain key', () => {
      assert.deepEqual(checkHostKey(entries, '[10.0.0.5]:22', blob(a)), { status: 'unknown', authorities: [] });
      const verdict = checkHostKey(entries, 'builder.corp', blob(a));
      assert.equal(verdict.status, 'unknown');
      assert.deepEqual(verdict.status === 'unknown' && verdict.authorities.map((entry) => entry.line), [5]);
    });

    it('asks first for the host-key algorithms of the listed types, as OpenSSH orders them', () => {
      assert.deepEqual(preferredHostKeyAlgorithms(entries, name), [
        'ssh-ed25519',
        'ecdsa-sha2-nistp256',
        'rsa-sha2-512',
        'rsa-sha2-256',
        'ssh-rsa',
      ]);
      assert.deepEqual(preferredHostKeyAlgorithms(entries, 'old.example.com'), ['ssh-ed25519']);
      assert.equal(preferredHostKeyAlgorithms(entries, 'builder.corp'), undefined, 'a CA line lists no host key');
    });
  });

  it('fingerprints a key as ssh-keygen -l does', () => {
    for (const key of [a, rsa, ecdsa]) assert.equal(fingerprintOf(blob(key)), key.fingerprint);
  });

  it("reads OpenSSH's default files, an absent one giving no keys", () => {
    assert.deepEqual(knownHostsFiles('/home/agent').slice(0, 2), ['/home/agent/.ssh/known_hosts', '/home/agent/.ssh/known_hosts2']);
    const file = write('one', [`[10.0.0.5]:2222 ${a.publicKey}`]);
    const missing = path.join(dir, 'missing');
    const known = readKnownHosts([file, missing]);
    assert.deepEqual(known.files, [{ path: file }, { path: missing, problem: 'absent' }]);
    assert.equal(known.entries.length, 1);
  });

  describe('the refusal, in one line', () => {
    it('an unknown host: the offered key, the files looked in, and the ssh-keyscan line to add it', () => {
      const home = path.join(dir, 'empty-home');
      const check = hostKeyCheck('10.0.0.5', 2222, knownHostsFiles(home));
      assert.equal(check.verify(blob(a)), false);
      assert.equal(
        describeHostKeyRefusal(check.refusal!),
        `the SSH host [10.0.0.5]:2222 offered the ssh-ed25519 key ${a.fingerprint}, and no known_hosts file lists a key for that host (looked in ${home}/.ssh/known_hosts (absent), /etc/ssh/ssh_known_hosts${fs.existsSync('/etc/ssh/ssh_known_hosts') ? '' : ' (absent)'}): check that fingerprint with the host's owner, then add the key in an earlier step: ssh-keyscan -p 2222 10.0.0.5 >> ${home}/.ssh/known_hosts`,
      );
    });

    it('a changed key: the offered and the listed fingerprints, the line, and how to replace it', () => {
      const file = write('changed', [`[10.0.0.5]:2222 ${b.publicKey}`]);
      const check = hostKeyCheck('10.0.0.5', 2222, [file]);
      assert.equal(check.verify(blob(a)), false);
      const message = describeHostKeyRefusal(check.refusal!);
      assert.equal(
        message,
        `the SSH host key of [10.0.0.5]:2222 has changed: the host offered the ssh-ed25519 key ${a.fingerprint}, but ${file}:1 lists another key for it (ssh-ed25519 ${b.fingerprint}; looked in ${file}): someone may be intercepting the connection, or the host's key was replaced; only once the host's owner confirms the new fingerprint, remove the old entry (ssh-keygen -R '[10.0.0.5]:2222' -f ${file}) and add the new key (ssh-keyscan -p 2222 10.0.0.5 >> ${file}) in an earlier step`,
      );
      assert.equal(check.verify(blob(b)), true, 'the listed key passes');
    });

    it('a revoked key and a host known only by a certificate authority say so', () => {
      const file = write('revoked', [
        `@revoked * ${a.publicKey}`,
        `@cert-authority *.corp ${b.publicKey}`,
        `build.example.com ${a.publicKey}`,
      ]);
      const revoked = hostKeyCheck('build.example.com', 22, [file]);
      assert.equal(revoked.verify(blob(a)), false);
      assert.match(
        describeHostKeyRefusal(revoked.refusal!),
        new RegExp(
          `^the SSH host build\\.example\\.com offered the ssh-ed25519 key ${escapeRegExp(a.fingerprint)}, which ${escapeRegExp(file)}:1 marks @revoked `,
        ),
      );
      const ca = hostKeyCheck('builder.corp', 22, [file]);
      assert.equal(ca.verify(blob(b)), false);
      assert.match(
        describeHostKeyRefusal(ca.refusal!),
        new RegExp(
          `; known_hosts names only a certificate authority for it \\(@cert-authority at ${escapeRegExp(file)}:2\\), and the tasks do not take host certificates: .* ssh-keyscan builder\\.corp >> `,
        ),
      );
    });
  });
});
