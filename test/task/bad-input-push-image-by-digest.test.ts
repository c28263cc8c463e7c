// PushImageByDigest@1 given every bad input a careless or hostile user tries: each ends Failed with one line naming
// the input, within the time bound, with no registry tag moved, no local tag added, no lock file written or changed
// and no secret in any encoding (test/support/bad-input.ts). Everything checkable without a side effect is checked
// before the first tag: references by reference/, the lock file's folder by a write that leaves nothing, the
// credentials by a read of the registry.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { badInputCases, late, type BadInputCase } from '../support/bad-input';
import { buildBusyboxImage, removeTestImages, requireEngine, TEST_RUN_ID } from '../support/engine';
import { bundleOnce, registryEndpoint, type Endpoint } from '../support/harness';
import { listTags } from '../support/images';
import { makeImmutable, mountReadOnly, undoReadOnly } from '../support/readonly';
import { requireRegistry, sharedRegistry, type TestRegistry } from '../support/registries';
import { engineSnapshot, folderSnapshot } from '../support/snapshot';

const TASK = 'PushImageByDigest';
const SOURCE = `outerloop-test/bad-input-push-source:${TEST_RUN_ID}`;
/** The repositories a case could push to if a check were missing; their tags are in the snapshot. */
const REPOSITORIES = ['bad-input/app', 'bad-input/other'];
const WRONG_PASSWORD = 'wr0ng-Bad-Input-Push-8c3a';
/** Where every path input of the table points; made when the file loads, so the table can name its files. */
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bad-push-'));
const at = (...parts: string[]) => path.join(work, ...parts);
const VALID_LOCK = '{\n  "version": 1,\n  "images": []\n}\n';

let registry: TestRegistry;
let otherRegistry: TestRegistry;
const connection = (): Endpoint => registryEndpoint('reg', registry.url, registry.users[0]);

const cases: BadInputCase[] = [
  // repository: parsed by reference/, the host from the connection.
  { name: 'no repository', options: { inputs: { repository: '' } }, names: "input 'repository'", pattern: /is required/ },
  {
    name: 'a repository in upper case',
    options: { inputs: { repository: 'Bad-Input/App' } },
    names: "input 'repository'",
    pattern: /repository names are lower case/,
  },
  {
    name: 'a repository with a tag',
    options: { inputs: { repository: 'bad-input/app:v1' } },
    names: "input 'repository'",
    pattern: /a repository has no tag or digest/,
  },
  {
    name: 'a repository with a scheme prefix',
    options: { inputs: { repository: 'https://registry.example/bad-input/app' } },
    names: "input 'repository'",
    pattern: /drop the 'https:\/\/' prefix/,
  },
  {
    name: 'a repository with a Cyrillic look-alike letter',
    options: { inputs: { repository: 'bad-іnput/app' } },
    names: "input 'repository'",
    pattern: /'і' \(U\+0456\) is not ASCII, though it looks like 'i'/,
  },
  {
    name: 'a repository with a space',
    options: { inputs: { repository: 'bad input/app' } },
    names: "input 'repository'",
    pattern: /white space/,
  },
  {
    name: 'a repository with a line break',
    options: { inputs: { repository: 'bad-input/app\nbad-input/other' } },
    names: "input 'repository'",
    pattern: /app\\nbad-input\/other'.*a line break/,
  },
  {
    name: 'a repository of 300 characters',
    options: { inputs: { repository: `bad-input/${'a'.repeat(290)}` } },
    names: "input 'repository'",
    pattern: /at most 255 characters/,
  },
  {
    name: 'a repository with an empty segment',
    options: { inputs: { repository: 'bad-input//app' } },
    names: "input 'repository'",
    pattern: /empty segment/,
  },
  {
    name: 'a repository on a port out of range',
    options: { inputs: { repository: 'registry.example:99999/app' } },
    names: "input 'repository'",
    pattern: /out of range/,
  },
  {
    name: 'a repository left with an undefined variable',
    options: { inputs: { repository: '$(Service.Repository)' } },
    names: "input 'repository'",
    pattern: /variable this job does not define/,
  },

  // tags: every line a tag, refused whole before the first push.
  {
    name: "a tag starting with '-'",
    options: { inputs: { tags: 'ok\n-bad' } },
    names: "input 'tags'",
    pattern: /holds '-bad', which is not a tag/,
  },
  {
    name: 'a tag of 200 characters',
    options: { inputs: { tags: 't'.repeat(200) } },
    names: "input 'tags'",
    pattern: /at most 128 characters, this one has 200/,
  },
  {
    name: 'a tag with a Cyrillic look-alike letter',
    options: { inputs: { tags: 'v1.0-rс1' } },
    names: "input 'tags'",
    pattern: /'с' \(U\+0441\) is not ASCII, though it looks like 'c'/,
  },
  {
    name: 'a tag with a space',
    options: { inputs: { tags: '4711\nrelease candidate' } },
    names: "input 'tags'",
    pattern: /may contain only letters/,
  },
  {
    name: 'a tag left with an undefined variable',
    options: { inputs: { tags: '$(Build.BuildNumber)\n$(GitVersion.SemVer)' }, variables: { 'Build.BuildNumber': '20260102.7' } },
    names: "input 'tags'",
    pattern: /\$\(GitVersion\.SemVer\)/,
  },
  { name: 'a tag with a slash', options: { inputs: { tags: 'feature/login' } }, names: "input 'tags'" },

  // sourceImage: a reference or an image id, parsed before the engine sees it.
  {
    name: 'a sourceImage the engine calls an invalid reference format',
    options: { inputs: { sourceImage: 'Team/App::1' } },
    names: "input 'sourceImage'",
    pattern: /which is not an image reference: repository names are lower case/,
  },
  {
    name: 'a sourceImage with a scheme prefix',
    options: { inputs: { sourceImage: `docker://${SOURCE}` } },
    names: "input 'sourceImage'",
    pattern: /drop the 'docker:\/\/' prefix/,
  },
  {
    name: 'a sourceImage with a space',
    options: { inputs: { sourceImage: 'bad input:1' } },
    names: "input 'sourceImage'",
    pattern: /white space/,
  },
  {
    name: 'a sourceImage with a Greek look-alike letter',
    options: { inputs: { sourceImage: 'οuterloop-test/app:1' } },
    names: "input 'sourceImage'",
    pattern: /U\+03BF\) is not ASCII, though it looks like 'o'/,
  },
  {
    name: 'a sourceImage that is not on the engine',
    options: { inputs: { sourceImage: `outerloop-test/never-built:${TEST_RUN_ID}` } },
    names: 'sourceImage',
    pattern: /is not on the engine/,
  },
  {
    name: 'a sourceImage left with an undefined variable',
    options: { inputs: { sourceImage: '$(final.imageName)' } },
    names: "input 'sourceImage'",
    pattern: /variable this job does not define/,
  },

  // lockFile: its folder proven writable (and left as it was) before anything is tagged.
  {
    name: 'a lockFile in a read-only folder',
    options: { inputs: { lockFile: at('read-only', 'image-lock.json') } },
    names: "input 'lockFile'",
    pattern: /cannot be written: cannot write in .*read-only file system \(EROFS\)/,
  },
  {
    name: 'a lockFile in a folder to be made on a read-only mount',
    options: { inputs: { lockFile: at('read-only', 'locks', 'image-lock.json') } },
    names: "input 'lockFile'",
    pattern: /cannot make the folder .*\(EROFS\)/,
  },
  {
    name: 'a lockFile in an immutable folder',
    options: { inputs: { lockFile: at('immutable', 'image-lock.json') } },
    names: "input 'lockFile'",
    pattern: /\(EPERM\)/,
  },
  {
    name: 'a lockFile that is an immutable file',
    options: { inputs: { lockFile: at('immutable-lock.json') } },
    names: "input 'lockFile'",
    pattern: /cannot write '.*immutable-lock\.json': .*\(EPERM\)/,
  },
  {
    name: 'a lockFile that is a folder',
    options: { inputs: { lockFile: at('a-folder') } },
    names: "input 'lockFile'",
    pattern: /is a folder, not a file/,
  },
  {
    name: 'a lockFile below a file',
    options: { inputs: { lockFile: at('a-file', 'image-lock.json') } },
    names: "input 'lockFile'",
    pattern: /a-file' is a file, not a folder/,
  },
  {
    name: 'a lockFile that is not JSON',
    options: { inputs: { lockFile: at('broken-lock.json') } },
    names: "input 'lockFile'",
    pattern: /is not JSON/,
  },
  {
    name: 'a lockFile of another version',
    options: { inputs: { lockFile: at('v3-lock.json') } },
    names: "input 'lockFile'",
    pattern: /has version 3; this task reads versions 1 and 2/,
  },
  {
    name: 'a lockFile under /proc',
    options: { inputs: { lockFile: '/proc/outerloop/image-lock.json' } },
    names: "input 'lockFile'",
    pattern: /cannot make the folder '\/proc\/outerloop'/,
  },
  {
    name: 'a lockFile left with an undefined variable',
    options: { inputs: { lockFile: '$(Locks.Folder)/image-lock.json' } },
    names: "input 'lockFile'",
    pattern: /variable this job does not define/,
  },
  {
    name: 'a lockFile with a line break',
    options: { inputs: { lockFile: 'image-lock.json\n/etc/passwd' } },
    names: "input 'lockFile'",
    pattern: /holds a control character/,
  },

  // publishing the lock file.
  { name: 'publishLockArtifact yes', options: { inputs: { publishLockArtifact: 'yes' } }, names: "input 'publishLockArtifact'" },
  {
    name: 'an artifact name with a slash',
    options: { inputs: { artifactName: 'locks/images' } },
    names: "input 'artifactName'",
    pattern: /cannot contain/,
  },
  {
    name: 'an artifact name with a line break',
    options: { inputs: { artifactName: 'image\nlock' } },
    names: "input 'artifactName'",
    pattern: /'image\\nlock'/,
  },

  // containerRegistry: the connection, and the registry's answer to a read before anything is tagged.
  {
    name: 'a wrong password',
    options: late(
      () => ({}),
      () => [registryEndpoint('reg', registry.url, { username: registry.users[0].username, password: WRONG_PASSWORD })],
    ),
    names: "input 'containerRegistry'",
    pattern: /refused the credentials of user 'promoter' \(input 'containerRegistry'\)/,
  },
  {
    name: 'a connection this job cannot see',
    options: { inputs: { containerRegistry: 'no-such-connection' } },
    names: "input 'containerRegistry'",
    pattern: /which this job cannot see/,
  },
  {
    name: 'no connection for a registry that wants one',
    options: late(() => ({ containerRegistry: '', repository: `${registry.host}/bad-input/app` })),
    names: "input 'containerRegistry'",
    pattern: /needs credentials for this: set input 'containerRegistry' to a service connection for it/,
  },
  {
    name: "another registry's connection",
    options: late(
      () => ({ containerRegistry: 'other', repository: `${registry.host}/bad-input/other` }),
      () => [registryEndpoint('other', otherRegistry.url, otherRegistry.users[0])],
    ),
    names: "input 'containerRegistry'",
  },
];

describe('PushImageByDigest@1 bad input (bundle, real engine, real registry): one line naming the input, nothing moved', function () {
  let docker: Dockerode;

  before(async function () {
    docker = await requireEngine(this);
    requireRegistry(this);
    await bundleOnce();
    registry = await sharedRegistry('htpasswd');
    otherRegistry = await sharedRegistry('token');
    await buildBusyboxImage(docker, { tag: SOURCE, layers: 1, bytesPerLayer: 4096, seed: `bad-input-push-${TEST_RUN_ID}` });
    fs.mkdirSync(at('a-folder'));
    fs.writeFileSync(at('a-file'), 'not a folder');
    fs.writeFileSync(at('broken-lock.json'), '{"images": [');
    fs.writeFileSync(at('v3-lock.json'), '{"version": 3, "entries": []}');
    fs.writeFileSync(at('immutable-lock.json'), VALID_LOCK);
    makeImmutable(this, at('immutable-lock.json'));
    fs.mkdirSync(at('immutable'));
    makeImmutable(this, at('immutable'));
    mountReadOnly(this, at('read-only'));
  });

  after(async () => {
    undoReadOnly();
    if (docker) await removeTestImages(docker, { onlyThisRun: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  badInputCases({
    task: TASK,
    base: () => ({
      inputs: {
        containerRegistry: 'reg',
        repository: 'bad-input/app',
        tags: '4711',
        sourceImage: SOURCE,
        lockFile: at('locks', 'image-lock.json'),
      },
      endpoints: [connection()],
    }),
    secrets: () => [...registry.secrets(), ...otherRegistry.secrets(), WRONG_PASSWORD],
    sideEffects: async () => {
      const tags = await Promise.all(
        REPOSITORIES.map(async (repo) => `${repo}: ${(await listTags(registry, repo, registry.users[0])).join(' ')}`),
      );
      return `${tags.join('\n')}\n---\n${await engineSnapshot(docker)}\n---\n${folderSnapshot(work)}`;
    },
    cases,
  });
});
