// BuildTestRunner@1 given every bad input a careless or hostile user tries: each ends Failed with one line naming the
// input, within the time bound, with no image tagged, no container and no file left behind and no secret in any
// encoding (test/support/bad-input.ts). Inputs are checked before the engine is asked to build; what only the engine
// can tell (a registry refusing a private base image, a network it does not have) is named after its input too.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { stageSampleService } from '../fixtures/sample-service/stage';
import { badInputCases, type BadInputCase } from '../support/bad-input';
import {
  pushPrivateBaseImage,
  removeTestContainers,
  removeTestImages,
  requireEngine,
  TEST_LABEL,
  TEST_RUN_ID,
  TEST_RUN_LABEL,
} from '../support/engine';
import { bundleOnce, registryEndpoint, type Endpoint, type RunOptions } from '../support/harness';
import { requireRegistry, sharedRegistry, type TestRegistry } from '../support/registries';
import { engineSnapshot, folderSnapshot } from '../support/snapshot';

const TASK = 'BuildTestRunner';
/** Passed through the task's own `labels` input, so a built image would show in the engine snapshot. */
const TEST_LABELS = `${TEST_LABEL}=1\n${TEST_RUN_LABEL}=${TEST_RUN_ID}`;
/** Where every path input of the table points; made when the file loads, so the table can name its folders. */
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bad-build-'));
const at = (...parts: string[]) => path.join(work, ...parts);
const sample = at('sample');
const WRONG_PASSWORD = 'wr0ng-Bad-Input-Build-5e1d';

/** Contexts with one bad `.dockerignore` line each (line 2, after a good one). */
const IGNORES: Record<string, string> = {
  'ignore-bracket': 'node_modules\n[a-\n',
  'ignore-backslash': 'node_modules\nlogs\\\n',
  'ignore-bang': 'node_modules\n!\n',
  'ignore-range': 'node_modules\n[z-a].txt\n',
};

let privateRegistry: TestRegistry;
let otherRegistry: TestRegistry;
/** The private base image's Dockerfile and context (written in `before`, once the registry's port is known). */
const privateBuild = (builder: string): Record<string, string> => ({
  dockerfile: at('private', 'Dockerfile'),
  buildContext: at('private'),
  builder,
});
/** A case whose endpoints are read when it runs: the registries start in `before`. */
function withEndpoint(inputs: Record<string, string>, endpoint: () => Endpoint): RunOptions {
  return {
    inputs,
    get endpoints() {
      return [endpoint()];
    },
  };
}

const notRegExpError = /^(?!.*(regular expression|SyntaxError))/i;

const cases: BadInputCase[] = [
  // dockerfile and target: read before the engine is asked anything.
  {
    name: 'a Dockerfile that does not exist',
    options: { inputs: { dockerfile: 'docker/Nope.Dockerfile' } },
    names: "input 'dockerfile'",
    pattern: /which is not a file/,
  },
  {
    name: 'a Dockerfile that is a folder',
    options: { inputs: { dockerfile: 'src' } },
    names: "input 'dockerfile'",
    pattern: /which is not a file/,
  },
  {
    name: 'a Dockerfile without FROM',
    options: { inputs: { dockerfile: at('no-from.Dockerfile') } },
    names: "input 'dockerfile'",
    pattern: /has no FROM instruction/,
  },
  {
    name: 'a Dockerfile left with an undefined variable',
    options: { inputs: { dockerfile: '$(Service.Folder)/Dockerfile' } },
    names: "input 'dockerfile'",
    pattern: /\$\(Service\.Folder\)', a variable this job does not define/,
  },
  {
    name: 'a Dockerfile path with a line break',
    options: { inputs: { dockerfile: 'Dockerfile\nrm -rf /' } },
    names: "input 'dockerfile'",
    pattern: /Dockerfile\\nrm -rf \/', which holds a control character$/,
  },
  {
    name: 'a target the Dockerfile has no stage for',
    options: { inputs: { target: 'tests' } },
    names: "input 'target'",
    pattern: /its stages: base, build, testrunner, final/,
  },
  {
    name: 'a target left with an undefined variable',
    options: { inputs: { target: '$(Stage)' } },
    names: "input 'target'",
    pattern: /variable this job does not define/,
  },
  {
    name: 'a target with a line break',
    options: { inputs: { target: 'testrunner\nfinal' } },
    names: "input 'target'",
    pattern: /'testrunner\\nfinal'/,
  },

  // buildContext: a folder, not the root, with a .dockerignore Docker accepts.
  {
    name: 'a build context that does not exist',
    options: { inputs: { buildContext: 'no-such-folder' } },
    names: "input 'buildContext'",
    pattern: /which is not a folder/,
  },
  {
    name: 'a build context that is a file',
    options: { inputs: { buildContext: 'Dockerfile' } },
    names: "input 'buildContext'",
    pattern: /which is not a folder/,
  },
  {
    name: "buildContext '/', which would walk the whole file system",
    options: { inputs: { buildContext: '/' } },
    names: "input 'buildContext'",
    pattern: /the file system root/,
  },
  {
    name: "a buildContext climbing up to '/'",
    options: { inputs: { buildContext: '../../../../../../../../../../../..' } },
    names: "input 'buildContext'",
    pattern: /the file system root/,
  },
  {
    name: "a buildContext that is a link to '/'",
    options: { inputs: { buildContext: at('root-link') } },
    names: "input 'buildContext'",
    pattern: /root-link'.*the file system root/,
  },
  {
    name: "a .dockerignore pattern with an unclosed '['",
    options: { inputs: { buildContext: at('ignore-bracket') } },
    names: "input 'buildContext'",
    pattern: new RegExp(`${notRegExpError.source}.*\\.dockerignore' line 2: '\\[a-' is not a valid pattern: a '\\[' has no closing '\\]'$`),
  },
  {
    name: "a .dockerignore pattern ending in '\\'",
    options: { inputs: { buildContext: at('ignore-backslash') } },
    names: "input 'buildContext'",
    pattern: /line 2: 'logs\\' is not a valid pattern: it ends with a '\\' that escapes nothing$/,
  },
  {
    name: "a .dockerignore line '!' alone",
    options: { inputs: { buildContext: at('ignore-bang') } },
    names: "input 'buildContext'",
    pattern: /line 2: '!' is not a valid pattern/,
  },
  {
    name: 'a .dockerignore range that runs backwards',
    options: { inputs: { buildContext: at('ignore-range') } },
    names: "input 'buildContext'",
    pattern: new RegExp(`${notRegExpError.source}.*line 2: '\\[z-a\\]\\.txt' is not a valid pattern: the range 'z-a' runs backwards$`),
  },

  // imageName: lower-cased as documented, nothing else rewritten.
  {
    name: 'an imageName with a Cyrillic look-alike letter',
    options: { inputs: { imageName: 'sаmple-testrunner:1' } },
    names: "input 'imageName'",
    pattern: /'а' \(U\+0430\) is not ASCII, though it looks like 'a'/,
  },
  {
    name: 'an imageName with a 200-character tag',
    options: { inputs: { imageName: `sample-testrunner:${'t'.repeat(200)}` } },
    names: "input 'imageName'",
    pattern: /at most 128 characters, this one has 200$/,
  },
  {
    name: 'an imageName with a scheme prefix',
    options: { inputs: { imageName: 'https://registry.example/sample:1' } },
    names: "input 'imageName'",
    pattern: /drop the 'https:\/\/' prefix/,
  },
  {
    name: 'an imageName with a digest',
    options: { inputs: { imageName: `sample@sha256:${'a'.repeat(64)}` } },
    names: "input 'imageName'",
    pattern: /tagged, not pinned/,
  },
  {
    name: 'an imageName whose tag has a space',
    options: { inputs: { imageName: 'sample:release candidate' } },
    names: "input 'imageName'",
    pattern: /may contain only letters/,
  },
  {
    name: 'an imageName left with an undefined variable',
    options: { inputs: { imageName: '$(Service.Name)-testrunner:1' } },
    names: "input 'imageName'",
    pattern: /variable this job does not define/,
  },
  {
    name: 'an imageName with a line break',
    options: { inputs: { imageName: 'sample:1\nlatest' } },
    names: "input 'imageName'",
    pattern: /it contains a line break$/,
  },
  {
    name: 'an imageName with nothing a name can hold',
    options: { inputs: { imageName: '!!!:1' } },
    names: "input 'imageName'",
    pattern: /not an image name even made lower case/,
  },

  // KEY=VALUE lines, booleans, pick lists.
  {
    name: 'a build argument that is not KEY=VALUE',
    options: { inputs: { buildArguments: 'SERVICE_VERSION=1\nnot an argument' } },
    names: "input 'buildArguments'",
    pattern: /'not an argument'$/,
  },
  {
    name: 'a build argument left with an undefined variable',
    options: { inputs: { buildArguments: 'SERVICE_VERSION=$(Build.Version)' } },
    names: "input 'buildArguments'",
    pattern: /\$\(Build\.Version\)/,
  },
  { name: 'a label that is not KEY=VALUE', options: { inputs: { labels: `${TEST_LABELS}\nteam delivery` } }, names: "input 'labels'" },
  {
    name: 'addPipelineLabels yes',
    options: { inputs: { addPipelineLabels: 'yes' } },
    names: "input 'addPipelineLabels'",
    pattern: /must be true or false/,
  },
  { name: 'pull maybe', options: { inputs: { pull: 'maybe' } }, names: "input 'pull'" },
  { name: 'noCache 1', options: { inputs: { noCache: '1' } }, names: "input 'noCache'" },
  {
    name: 'a builder not on the list',
    options: { inputs: { builder: 'kaniko' } },
    names: "input 'builder'",
    pattern: /must be one of auto, buildkit, classic/,
  },

  // network: asked of the engine (classic), or refused by BuildKit's rule, before the context is sent.
  {
    name: 'a network the engine does not have (classic)',
    options: { inputs: { network: 'outerloop-no-such-network', builder: 'classic' } },
    names: "input 'network'",
    pattern: /a network the engine does not have/,
  },
  {
    name: 'a network BuildKit cannot run steps in',
    options: { inputs: { network: 'outerloop-no-such-network', builder: 'buildkit' } },
    names: "input 'network'",
    pattern: /BuildKit runs build steps only in network/,
  },
  { name: 'a network name with a space', options: { inputs: { network: 'my network' } }, names: "input 'network'" },

  // containerRegistry: the connection, and what the base image's registry says of it.
  {
    name: 'a containerRegistry connection this job cannot see',
    options: { inputs: { containerRegistry: 'no-such-connection' } },
    names: "input 'containerRegistry'",
    pattern: /which this job cannot see/,
  },
  {
    name: 'a private base image without containerRegistry (BuildKit)',
    options: { inputs: privateBuild('buildkit') },
    names: "input 'containerRegistry'",
    pattern: /is empty, but registry 127\.0\.0\.1:\d+ refused the base image.*401 Unauthorized/,
  },
  {
    name: 'a private base image without containerRegistry (classic)',
    options: { inputs: privateBuild('classic') },
    names: "input 'containerRegistry'",
    pattern: /is empty, but registry 127\.0\.0\.1:\d+ refused the base image.*no basic auth credentials/,
  },
  {
    name: 'a private base image with a wrong password (BuildKit)',
    options: withEndpoint({ ...privateBuild('buildkit'), containerRegistry: 'reg' }, () =>
      registryEndpoint('reg', privateRegistry.url, { username: 'promoter', password: WRONG_PASSWORD }),
    ),
    names: "input 'containerRegistry'",
    pattern: /refused its credentials for the base image/,
  },
  {
    name: 'a private base image with a wrong password (classic)',
    options: withEndpoint({ ...privateBuild('classic'), containerRegistry: 'reg' }, () =>
      registryEndpoint('reg', privateRegistry.url, { username: 'promoter', password: WRONG_PASSWORD }),
    ),
    names: "input 'containerRegistry'",
    pattern: /refused its credentials for the base image.*unauthorized/,
  },
  {
    name: "a private base image with another registry's connection",
    options: withEndpoint({ ...privateBuild('classic'), containerRegistry: 'other' }, () =>
      registryEndpoint('other', otherRegistry.url, otherRegistry.users[0]),
    ),
    names: "input 'containerRegistry'",
    pattern: /is for 127\.0\.0\.1:\d+, but the base image comes from 127\.0\.0\.1:\d+, which refused it/,
  },
];

describe('BuildTestRunner@1 bad input (bundle, real engine, real registry): one line naming the input, nothing left behind', function () {
  let docker: Dockerode;

  before(async function () {
    docker = await requireEngine(this);
    requireRegistry(this);
    await bundleOnce();
    stageSampleService(sample);
    fs.writeFileSync(at('no-from.Dockerfile'), '# a comment\nRUN echo no base\n');
    fs.symlinkSync('/', at('root-link'));
    for (const [folder, text] of Object.entries(IGNORES)) {
      fs.mkdirSync(at(folder));
      fs.writeFileSync(at(folder, '.dockerignore'), text);
    }
    privateRegistry = await sharedRegistry('htpasswd');
    otherRegistry = await sharedRegistry('token');
    const base = await pushPrivateBaseImage(docker, sample, privateRegistry, 'bad-input/private-base');
    fs.mkdirSync(at('private'));
    fs.writeFileSync(at('private', 'Dockerfile'), `FROM ${base} AS testrunner\nRUN echo on the private base\n`);
  });

  after(async () => {
    if (docker) {
      await removeTestContainers(docker, { onlyThisRun: true });
      await removeTestImages(docker, { onlyThisRun: true });
    }
    fs.rmSync(work, { recursive: true, force: true });
  });

  badInputCases({
    task: TASK,
    base: () => ({
      inputs: { labels: TEST_LABELS, imageName: `outerloop-test/bad-input-build:${TEST_RUN_ID}` },
      variables: { 'System.DefaultWorkingDirectory': sample, 'Build.Repository.Name': 'Sample.Service' },
    }),
    secrets: () => [...privateRegistry.secrets(), ...otherRegistry.secrets(), WRONG_PASSWORD],
    sideEffects: async () => `${await engineSnapshot(docker)}\n---\n${folderSnapshot(work)}`,
    cases,
  });
});
