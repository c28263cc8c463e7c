// RunContainerTests@1 given every bad input a careless or hostile user tries: each ends Failed with one line naming
// the input, within the time bound, with no container, image tag or file left behind (test/support/bad-input.ts).
// The checks the engine answers are made before a container exists where the engine allows (image, network, the
// results folder on the agent); the ones only a run can tell (a command the image cannot start, a user it does not
// have, a resultsPath it does not create) still name the input and leave no container.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type Dockerode from 'dockerode';
import { buildImage } from '../../shared/src/docker/build';
import { memoryLog } from '../../shared/src/log';
import { stageSampleService } from '../fixtures/sample-service/stage';
import { badInputCases, type BadInputCase } from '../support/bad-input';
import { removeTestContainers, removeTestImages, requireEngine, TEST_LABEL, TEST_RUN_ID, TEST_RUN_LABEL } from '../support/engine';
import { bundleOnce } from '../support/harness';
import { makeImmutable, mountReadOnly, undoReadOnly } from '../support/readonly';
import { engineSnapshot, folderSnapshot } from '../support/snapshot';

const TASK = 'RunContainerTests';
const RUNNER = `outerloop-test/bad-input-runner:${TEST_RUN_ID}`;
/** Where every path input of the table points; made when the file loads, so the table can name its folders. */
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bad-run-'));
const at = (...parts: string[]) => path.join(work, ...parts);

const cases: BadInputCase[] = [
  // image: parsed by reference/ before the engine sees it.
  { name: 'no image', options: { inputs: { image: '' } }, names: "input 'image'", pattern: /is required/ },
  {
    name: 'an image that is not on the engine',
    options: { inputs: { image: `outerloop-test/never-built:${TEST_RUN_ID}` } },
    names: "input 'image'",
    pattern: /is not on the engine: build it first/,
  },
  {
    name: 'an image with a scheme prefix',
    options: { inputs: { image: `docker://${RUNNER}` } },
    names: "input 'image'",
    pattern: /drop the 'docker:\/\/' prefix/,
  },
  {
    name: 'an image with a space',
    options: { inputs: { image: 'outerloop-test/bad input:1' } },
    names: "input 'image'",
    pattern: /white space/,
  },
  {
    name: 'an image with a line break',
    options: { inputs: { image: `${RUNNER}\nlatest` } },
    names: "input 'image'",
    pattern: /\\nlatest', which is not an image reference: it contains a line break$/,
  },
  {
    name: 'an image with a Cyrillic look-alike letter',
    options: { inputs: { image: `оuterloop-test/bad-input-runner:${TEST_RUN_ID}` } },
    names: "input 'image'",
    pattern: /'о' \(U\+043E\) is not ASCII, though it looks like 'o'/,
  },
  {
    name: 'an image with full-width letters',
    options: { inputs: { image: 'ｏｕｔｅｒｌｏｏｐ/app:1' } },
    names: "input 'image'",
    pattern: /U\+FF4F\) is not ASCII, though it looks like 'o'/,
  },
  {
    name: 'an image with a zero-width space',
    options: { inputs: { image: `outerloop-test/app\u200b:1` } },
    names: "input 'image'",
    pattern: /app\\u\{200B\}:1'.*U\+200B is not ASCII/,
  },
  {
    name: 'an image in upper case',
    options: { inputs: { image: 'Outerloop-Test/App:1' } },
    names: "input 'image'",
    pattern: /repository names are lower case/,
  },
  {
    name: 'an image with a 200-character tag',
    options: { inputs: { image: `outerloop-test/app:${'t'.repeat(200)}` } },
    names: "input 'image'",
    pattern: /at most 128 characters, this one has 200/,
  },
  {
    name: 'an image with a malformed digest',
    options: { inputs: { image: 'outerloop-test/app@sha256:abc' } },
    names: "input 'image'",
    pattern: /64 hex characters/,
  },
  {
    name: 'an image on a port out of range',
    options: { inputs: { image: 'registry.example:99999/app:1' } },
    names: "input 'image'",
    pattern: /out of range/,
  },
  {
    name: 'an image left with an undefined variable',
    options: { inputs: { image: '$(Testrunner.ImageName)' } },
    names: "input 'image'",
    pattern: /variable this job does not define/,
  },
  {
    name: 'a 100,000-character image, quoted short',
    options: { inputs: { image: `outerloop-test/${'a'.repeat(100_000)}` } },
    names: "input 'image'",
    pattern: /^.{0,600}$/,
  },

  // resultsPath: a folder inside the container.
  {
    name: 'a relative resultsPath',
    options: { inputs: { resultsPath: 'TestResults' } },
    names: "input 'resultsPath'",
    pattern: /must be an absolute path/,
  },
  {
    name: "resultsPath '/', the container's whole file system",
    options: { inputs: { resultsPath: '/' } },
    names: "input 'resultsPath'",
    pattern: /the container's root/,
  },
  {
    name: "resultsPath climbing to '/'",
    options: { inputs: { resultsPath: '/tests/../..' } },
    names: "input 'resultsPath'",
    pattern: /the container's root/,
  },
  {
    name: 'a resultsPath left with an undefined variable',
    options: { inputs: { resultsPath: '$(Results.Path)' } },
    names: "input 'resultsPath'",
    pattern: /variable this job does not define/,
  },
  {
    name: 'a resultsPath the container does not have',
    options: { inputs: { resultsPath: '/tests/NoSuchResults' } },
    names: "input 'resultsPath'",
    pattern: /which the container does not have after the run/,
  },

  // resultsDirectory: proven writable before the container is created.
  {
    name: 'a resultsDirectory that is a file',
    options: { inputs: { resultsDirectory: at('a-file') } },
    names: "input 'resultsDirectory'",
    pattern: /is a file, not a folder/,
  },
  {
    name: 'a resultsDirectory below a file',
    options: { inputs: { resultsDirectory: at('a-file', 'results') } },
    names: "input 'resultsDirectory'",
    pattern: /a-file' is a file, so the folder .* cannot be made/,
  },
  {
    name: 'a resultsDirectory on a read-only mount',
    options: { inputs: { resultsDirectory: at('read-only', 'results') } },
    names: "input 'resultsDirectory'",
    pattern: /read-only file system \(EROFS\)/,
  },
  {
    name: 'a resultsDirectory that is an immutable folder',
    options: { inputs: { resultsDirectory: at('immutable') } },
    names: "input 'resultsDirectory'",
    pattern: /\(EPERM\)/,
  },
  {
    name: 'a resultsDirectory under /proc',
    options: { inputs: { resultsDirectory: '/proc/outerloop-results' } },
    names: "input 'resultsDirectory'",
    pattern: /cannot make the folder '\/proc\/outerloop-results'/,
  },
  {
    name: 'a resultsDirectory left with an undefined variable',
    options: { inputs: { resultsDirectory: '$(Unit.ResultsDirectory)/unit' } },
    names: "input 'resultsDirectory'",
    pattern: /variable this job does not define/,
  },

  // command: split like a shell; what the image cannot start is named after the runtime's words.
  {
    name: 'a command whose binary the image does not have',
    options: { inputs: { command: 'dotnet test --logger trx' } },
    names: "input 'command'",
    pattern: /runs 'dotnet', which the container cannot start: exec: "dotnet": executable file not found in \$PATH$/,
  },
  {
    name: 'a command naming a path that does not exist',
    options: { inputs: { command: '/opt/tests/run.sh' } },
    names: "input 'command'",
    pattern: /no such file or directory/,
  },
  { name: 'a command naming a folder', options: { inputs: { command: '/src' } }, names: "input 'command'", pattern: /permission denied/ },
  {
    name: 'a command with an open quote',
    options: { inputs: { command: "sh -c 'echo" } },
    names: "input 'command'",
    pattern: /unterminated '/,
  },

  // network: asked of the engine before anything is created.
  {
    name: 'a network the engine does not have',
    options: { inputs: { network: 'outerloop-no-such-network' } },
    names: "input 'network'",
    pattern: /a network the engine does not have \(it has: .*none/,
  },
  {
    name: 'the network of a container that does not exist',
    options: { inputs: { network: 'container:outerloop-no-such-container' } },
    names: "input 'network'",
    pattern: /no container 'outerloop-no-such-container'/,
  },
  {
    name: 'a network name with a space',
    options: { inputs: { network: 'my network' } },
    names: "input 'network'",
    pattern: /not a network name/,
  },

  // user: user[:group], each a name or a number.
  { name: 'user a:b:c', options: { inputs: { user: 'a:b:c' } }, names: "input 'user'", pattern: /must be a user or user:group/ },
  {
    name: 'a user the image does not have',
    options: { inputs: { user: 'outerloop-nobody' } },
    names: "input 'user'",
    pattern: /unable to find user outerloop-nobody: no matching entries in passwd file/,
  },
  {
    name: 'a group the image does not have',
    options: { inputs: { user: '0:outerloop-nogroup' } },
    names: "input 'user'",
    pattern: /unable to find group outerloop-nogroup/,
  },
  {
    name: 'a user with a space',
    options: { inputs: { user: 'test user' } },
    names: "input 'user'",
    pattern: /must be a user or user:group/,
  },

  // environment, timeoutMinutes, failOnTestFailure.
  {
    name: 'an environment line that is not KEY=VALUE',
    options: { inputs: { environment: 'A=1\nB' } },
    names: "input 'environment'",
    pattern: /not KEY=VALUE: 'B'/,
  },
  {
    name: 'an environment line without a key',
    options: { inputs: { environment: '=value' } },
    names: "input 'environment'",
    pattern: /not KEY=VALUE/,
  },
  {
    name: 'an environment value left with an undefined variable',
    options: { inputs: { environment: 'API_URL=$(Api.Url)' } },
    names: "input 'environment'",
    pattern: /\$\(Api\.Url\)/,
  },
  {
    name: 'a timeout in words',
    options: { inputs: { timeoutMinutes: 'an hour' } },
    names: "input 'timeoutMinutes'",
    pattern: /must be a number of minutes/,
  },
  { name: 'a timeout of 0', options: { inputs: { timeoutMinutes: '0' } }, names: "input 'timeoutMinutes'", pattern: /must be more than 0/ },
  { name: 'a negative timeout', options: { inputs: { timeoutMinutes: '-5' } }, names: "input 'timeoutMinutes'" },
  { name: 'a timeout in exponent notation', options: { inputs: { timeoutMinutes: '1e3' } }, names: "input 'timeoutMinutes'" },
  {
    name: 'a timeout longer than a timer can hold',
    options: { inputs: { timeoutMinutes: '99999999' } },
    names: "input 'timeoutMinutes'",
    pattern: /at most 20160/,
  },
  {
    name: 'a failOnTestFailure that is not true or false',
    options: { inputs: { failOnTestFailure: 'maybe' } },
    names: "input 'failOnTestFailure'",
  },
];

describe('RunContainerTests@1 bad input (bundle, real engine): one line naming the input, nothing left behind', function () {
  let docker: Dockerode;
  let sample: string | undefined;

  before(async function () {
    docker = await requireEngine(this);
    await bundleOnce();
    sample = stageSampleService();
    await buildImage(
      docker,
      {
        dockerfile: path.join(sample, 'Dockerfile'),
        context: sample,
        target: 'testrunner',
        imageName: RUNNER,
        labels: { [TEST_LABEL]: '1', [TEST_RUN_LABEL]: TEST_RUN_ID },
      },
      memoryLog(),
    );
    fs.writeFileSync(at('a-file'), 'not a folder');
    mountReadOnly(this, at('read-only'));
    fs.mkdirSync(at('immutable'));
    makeImmutable(this, at('immutable'));
  });

  after(async () => {
    undoReadOnly();
    if (docker) {
      await removeTestContainers(docker, { onlyThisRun: true });
      await removeTestImages(docker, { onlyThisRun: true });
    }
    fs.rmSync(work, { recursive: true, force: true });
    if (sample) fs.rmSync(sample, { recursive: true, force: true });
  });

  badInputCases({
    task: TASK,
    base: () => ({ inputs: { image: RUNNER, network: 'none', resultsDirectory: at('results') } }),
    // The runner image carries TEST_RUN_LABEL, and so does every container made from it.
    sideEffects: async () => `${await engineSnapshot(docker)}\n---\n${folderSnapshot(work)}`,
    cases,
  });
});
