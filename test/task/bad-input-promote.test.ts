// PromoteImage@1 given every bad input a careless or hostile user tries: each ends Failed with one line naming the
// input, within the time bound, with no tag written in the target registry and no secret in any encoding
// (test/support/bad-input.ts). Every reference is parsed, and every target tag checked, before the first write.
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { serializeLock, type LockFile } from '../../shared/src/release';
import { badInputCases, late, type BadInputCase } from '../support/bad-input';
import { bundleOnce, registryEndpoint } from '../support/harness';
import { listTags, pushRandomImage, type PushedImage } from '../support/images';
import { requireRegistry, sharedRegistry, type TestRegistry } from '../support/registries';

const TASK = 'PromoteImage';
const WRONG_PASSWORD = 'wr0ng-Bad-Input-Promote-5e1d';
/** Repositories a case could write to if a check were missing; their tags are the side-effect snapshot. */
const WATCHED = ['prod/bad-promote/app', 'elsewhere/app', 'prod/bad-promote/other', 'prod/bad-promote/other/app'];

let anonymous: TestRegistry;
let htpasswd: TestRegistry;
let silent: net.Server;
let silentHost = '';
let pushed: PushedImage;
let lockFolder = '';

/** A lock file (written to the table's folder) listing the pushed image under each of `repositories`. */
function lockOf(name: string, repositories: string[], change: (lock: LockFile) => unknown = (lock) => lock): string {
  const lock: LockFile = {
    version: 2,
    entries: repositories.map((repository) => ({
      kind: 'image',
      repository: `${anonymous.host}/${repository}`,
      tags: ['v1'],
      digest: pushed.digest,
      pinnedReference: `${anonymous.host}/${repository}@${pushed.digest}`,
      mediaType: pushed.mediaType,
      pushedAt: '2026-01-01T00:00:00Z',
    })),
  };
  const file = path.join(lockFolder, name);
  fs.writeFileSync(file, name.endsWith('.json') ? JSON.stringify(change(lock)) : serializeLock(lock));
  return file;
}

const source = () => `${anonymous.host}/bad-promote/app:v1`;

const cases: BadInputCase[] = [
  // sourceImage: parsed by reference/ before any request.
  { name: 'no sourceImage', options: { inputs: { sourceImage: '' } }, names: "input 'sourceImage'", pattern: /required/ },
  {
    name: 'a sourceImage in upper case',
    options: late(() => ({ sourceImage: `${anonymous.host}/Bad-Promote/App:v1` })),
    names: "input 'sourceImage'",
  },
  {
    name: 'a sourceImage with a scheme prefix',
    options: late(() => ({ sourceImage: `https://${anonymous.host}/bad-promote/app:v1` })),
    names: "input 'sourceImage'",
  },
  {
    name: 'a sourceImage with a space',
    options: late(() => ({ sourceImage: `${anonymous.host}/bad promote/app:v1` })),
    names: "input 'sourceImage'",
  },
  {
    name: 'a sourceImage with a Cyrillic look-alike letter',
    options: late(() => ({ sourceImage: `${anonymous.host}/bad-promote/аpp:v1` })),
    names: "input 'sourceImage'",
  },
  {
    name: 'a sourceImage with a line break',
    options: late(() => ({ sourceImage: `${source()}\n${source()}` })),
    names: "input 'sourceImage'",
  },
  {
    name: 'a sourceImage with a tag of 200 characters',
    options: late(() => ({ sourceImage: `${anonymous.host}/bad-promote/app:${'t'.repeat(200)}` })),
    names: "input 'sourceImage'",
  },
  {
    name: 'a sourceImage with a digest that is not sha256',
    options: late(() => ({ sourceImage: `${anonymous.host}/bad-promote/app@md5:abc` })),
    names: "input 'sourceImage'",
  },
  {
    name: 'a sourceImage with a short digest',
    options: late(() => ({ sourceImage: `${anonymous.host}/bad-promote/app@sha256:abc` })),
    names: "input 'sourceImage'",
  },
  {
    name: 'a sourceImage left with an undefined variable',
    options: { inputs: { sourceImage: 'registry.example/app:$(Image.Tag)' } },
    names: "input 'sourceImage'",
    pattern: /variable this job does not define/,
  },
  {
    name: 'a sourceImage that does not exist',
    options: late(() => ({ sourceImage: `${anonymous.host}/bad-promote/missing:v1` })),
    names: 'bad-promote/missing',
  },
  {
    name: 'a sourceImage tag that does not exist',
    options: late(() => ({ sourceImage: `${anonymous.host}/bad-promote/app:v9` })),
    names: 'bad-promote/app:v9',
  },
  // targetImage, targetNamespace, additionalTags.
  {
    name: 'a targetImage in upper case',
    options: late(() => ({ sourceImage: source(), targetImage: `${anonymous.host}/Prod/App:v1` })),
    names: "input 'targetImage'",
  },
  {
    name: 'a targetImage with a digest',
    options: late(() => ({ sourceImage: source(), targetImage: `${anonymous.host}/prod/app@sha256:${'a'.repeat(64)}` })),
    names: "input 'targetImage'",
  },
  {
    name: 'a targetImage with a scheme prefix',
    options: late(() => ({ sourceImage: source(), targetImage: `oci://${anonymous.host}/prod/app:v1` })),
    names: "input 'targetImage'",
  },
  {
    name: 'a targetNamespace with an empty segment',
    options: late(() => ({ sourceImage: source(), targetNamespace: 'prod//eu' })),
    names: "input 'targetNamespace'",
  },
  {
    name: 'a targetNamespace in upper case',
    options: late(() => ({ sourceImage: source(), targetNamespace: 'Prod' })),
    names: "input 'targetNamespace'",
  },
  {
    name: 'a targetNamespace with a space',
    options: late(() => ({ sourceImage: source(), targetNamespace: 'pro d' })),
    names: "input 'targetNamespace'",
  },
  {
    name: 'a targetNamespace left with an undefined variable',
    options: late(() => ({ sourceImage: source(), targetNamespace: '$(Release.Env)' })),
    names: "input 'targetNamespace'",
  },
  {
    name: "an additional tag starting with '-'",
    options: late(() => ({ sourceImage: source(), additionalTags: 'stable\n-bad' })),
    names: "input 'additionalTags'",
  },
  {
    name: 'an additional tag of 200 characters',
    options: late(() => ({ sourceImage: source(), additionalTags: 'x'.repeat(200) })),
    names: "input 'additionalTags'",
  },
  {
    name: 'an additional tag with a colon',
    options: late(() => ({ sourceImage: source(), additionalTags: 'v1:latest' })),
    names: "input 'additionalTags'",
  },
  {
    name: 'an additional tag left with an undefined variable',
    options: late(() => ({ sourceImage: source(), additionalTags: '$(Build.Tag)' })),
    names: "input 'additionalTags'",
  },
  {
    name: 'an allowOverwrite that is not true or false',
    options: late(() => ({ sourceImage: source(), allowOverwrite: 'yes' })),
    names: "input 'allowOverwrite'",
  },
  // lockFile: exactly one of sourceImage and lockFile; the file read and checked before the first request.
  {
    name: 'both sourceImage and lockFile',
    options: late(() => ({ sourceImage: source(), lockFile: lockOf('both.lock', ['bad-promote/app']) })),
    names: "input 'sourceImage'",
    pattern: /and input 'lockFile' are both set/,
  },
  {
    name: 'a targetImage with lockFile',
    options: late(() => ({ lockFile: lockOf('target.lock', ['bad-promote/app']), targetImage: `${anonymous.host}/elsewhere/app:v1` })),
    names: "input 'targetImage'",
    pattern: /and input 'lockFile' are both set/,
  },
  {
    name: 'a lockFile that does not exist',
    options: late(() => ({ lockFile: path.join(lockFolder, 'missing.json') })),
    names: "input 'lockFile'",
    pattern: /does not exist/,
  },
  {
    name: 'a lockFile that is not JSON',
    options: late(() => {
      fs.writeFileSync(path.join(lockFolder, 'broken.json'), '{"version": 2, "entries": [');
      return { lockFile: path.join(lockFolder, 'broken.json') };
    }),
    names: "input 'lockFile'",
    pattern: /is not JSON/,
  },
  {
    name: 'a lockFile of an unknown version',
    options: late(() => ({ lockFile: lockOf('v3.json', ['bad-promote/app'], (lock) => ({ ...lock, version: 3 })) })),
    names: "input 'lockFile'",
    pattern: /has version 3/,
  },
  {
    name: 'a lockFile whose entries would both set pinned_app',
    options: late(() => ({ lockFile: lockOf('collision.lock', ['bad-promote/app', 'bad-promote/other/app']) })),
    names: "input 'lockFile'",
    pattern: /would both set the output variable 'pinned_app'/,
  },
  {
    name: 'a lockFile entry with a tag that is not one',
    options: late(() => ({
      lockFile: lockOf('badtag.json', ['bad-promote/app'], (lock) => ({ ...lock, entries: [{ ...lock.entries[0], tags: ['v1:x'] }] })),
    })),
    names: "input 'lockFile'",
  },
  {
    name: 'a lockFile entry whose digest the registry does not have',
    options: late(() => ({
      lockFile: lockOf('gone.json', ['bad-promote/app'], (lock) => ({
        ...lock,
        entries: [{ ...lock.entries[0], digest: `sha256:${'0'.repeat(64)}` }],
      })),
    })),
    names: 'read lockFile',
    pattern: /404 MANIFEST_UNKNOWN/,
  },
  {
    name: 'a promotedArtifactName with a slash',
    options: late(() => ({ lockFile: lockOf('artifact.lock', ['bad-promote/app']), promotedArtifactName: 'promoted/lock' })),
    names: "input 'promotedArtifactName'",
  },
  {
    name: 'a copyReferrers that is not true or false',
    options: late(() => ({ sourceImage: source(), copyReferrers: 'always' })),
    names: "input 'copyReferrers'",
  },
  // Service connections.
  {
    name: 'a containerRegistry connection the job cannot see',
    options: late(() => ({ sourceImage: source(), containerRegistry: 'no-such-connection' })),
    names: "input 'containerRegistry'",
  },
  {
    name: 'a containerRegistry with a wrong password (the password in no encoding anywhere)',
    options: late(
      () => ({ sourceImage: `${htpasswd.host}/bad-promote/app:v1`, containerRegistry: 'reg' }),
      () => [registryEndpoint('reg', htpasswd.url, { username: htpasswd.users[0].username, password: WRONG_PASSWORD })],
    ),
    names: "input 'containerRegistry'",
  },
  {
    name: 'no connection for a registry that wants a login',
    options: late(() => ({ sourceImage: `${htpasswd.host}/bad-promote/app:v1` })),
    names: "input 'containerRegistry'",
  },
  {
    name: 'a registry host that accepts the connection and never answers',
    options: late(() => ({ sourceImage: `${silentHost}/bad-promote/app:v1` })),
    names: 'sent no response within 30 s',
  },
];

describe('bad input: PromoteImage@1 (one line naming the input, nothing written)', function () {
  before(async function () {
    requireRegistry(this);
    await bundleOnce();
    [anonymous, htpasswd] = await Promise.all([sharedRegistry('anonymous'), sharedRegistry('htpasswd')]);
    pushed = await pushRandomImage(anonymous, 'bad-promote/app', 'v1', { layers: 1, seed: 'bad-promote' });
    lockFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bad-promote-lock-'));
    silent = net.createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentHost = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
  });
  after(() => {
    silent?.close();
    if (lockFolder) fs.rmSync(lockFolder, { recursive: true, force: true });
  });

  badInputCases({
    task: TASK,
    secrets: () => [WRONG_PASSWORD, ...(htpasswd ? htpasswd.users.map((user) => user.password) : [])],
    sideEffects: async () => {
      const tags = await Promise.all(
        WATCHED.map(async (repository) => `${repository}: ${(await listTags(anonymous, repository, null).catch(() => [])).join(',')}`),
      );
      return tags.join('\n');
    },
    cases,
  });
});
