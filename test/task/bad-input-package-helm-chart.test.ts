// PackageHelmChart@1 given every bad input a careless or hostile user tries: each ends Failed with one line naming
// the input, within the time bound, with no package (whole or partial) in the destination, no chart file changed, no
// registry tag written and no secret in any encoding (test/support/bad-input.ts). Paths, versions, keys and the push
// target are checked before the package is written; a push that fails removes the package and says so.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { badInputCases, late, type BadInputCase } from '../support/bad-input';
import { repoRoot } from '../support/env';
import { bundleOnce, registryEndpoint } from '../support/harness';
import { listTags } from '../support/images';
import { freeLoopbackPort } from '../support/loopback';
import { makeImmutable, mountReadOnly, undoReadOnly } from '../support/readonly';
import { requireRegistry, sharedRegistry, userOf, type TestRegistry } from '../support/registries';
import { folderSnapshot } from '../support/snapshot';

const TASK = 'PackageHelmChart';
const SAMPLE = path.join(repoRoot, 'test', 'fixtures', 'charts', 'sample-service');
const STOREFRONT = path.join(repoRoot, 'test', 'fixtures', 'charts', 'storefront');
const DIGEST = `sha256:${'4c'.repeat(32)}`;
const WRONG_PASSWORD = 'wr0ng-Bad-Input-Chart-5e1d';
/** Where every chart and destination of the table lives; made when the file loads, so the table can name its paths. */
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-bad-chart-'));
const at = (...parts: string[]) => path.join(work, ...parts);
/** The destination every case writes to unless it names another; it exists, as an agent's staging folder does. */
const DESTINATION = at('dest');

/** Nine levels of nine aliases: 9^9 strings if expanded, as YAML lines indented by `indent`. */
function aliasBomb(indent: string, item: (i: number) => string): string {
  let text = `${indent}${item(0)}&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n`;
  for (let i = 1; i < 10; i++)
    text += `${indent}${item(i)}&a${i} [${Array(9)
      .fill(`*a${i - 1}`)
      .join(', ')}]\n`;
  return text;
}

const chartYaml = (name = 'bad', extra = '') => `apiVersion: v2\nname: ${name}\nversion: 0.1.0\nappVersion: "1.0.0"\n${extra}`;
const LIB_DEPENDENCY = 'dependencies:\n  - name: lib\n    version: 0.1.0\n    repository: file://../lib\n';

/** The charts of the table, each wrong in one way. */
const CHARTS: Record<string, Record<string, string>> = {
  'no-chart-yaml': { 'values.yaml': 'image:\n  tag: "1"\n' },
  'symlink-out': { 'Chart.yaml': chartYaml(), 'templates/cm.yaml': 'kind: ConfigMap\n' },
  'symlink-loop': { 'Chart.yaml': chartYaml(), 'templates/cm.yaml': 'kind: ConfigMap\n' },
  'bad-name': { 'Chart.yaml': chartYaml('Bad_Name') },
  'bad-version': { 'Chart.yaml': 'apiVersion: v2\nname: bad\nversion: one\n' },
  'lenient-version': { 'Chart.yaml': 'apiVersion: v2\nname: bad\nversion: v1.2\n' },
  'bad-yaml': { 'Chart.yaml': 'apiVersion: v2\nname: [bad\nversion: 0.1.0\n' },
  'missing-dep': { 'Chart.yaml': chartYaml('bad', LIB_DEPENDENCY) },
  'bomb-chart-yaml': {
    'Chart.yaml': chartYaml('bad', `${LIB_DEPENDENCY}    import-values:\n${aliasBomb('      ', () => '- ')}`),
    'charts/lib/Chart.yaml': chartYaml('lib'),
  },
  'bomb-lock': {
    'Chart.yaml': chartYaml('bad', LIB_DEPENDENCY),
    'Chart.lock': `generated: "2024-01-01T00:00:00Z"\ndigest: sha256:${'0'.repeat(64)}\n${aliasBomb('', (i) => `a${i}: `)}dependencies: []\n`,
    'charts/lib/Chart.yaml': chartYaml('lib'),
  },
  'bomb-values': { 'Chart.yaml': chartYaml(), 'values.yaml': `image:\n  repository: app\n  tag: "1"\n${aliasBomb('', (i) => `a${i}: `)}` },
  'empty-tag': { 'Chart.yaml': 'apiVersion: v2\nname: bad\nversion: 0.1.0\n', 'values.yaml': 'image:\n  repository: app\n  tag: ""\n' },
  'no-values': { 'Chart.yaml': chartYaml() },
};
const chart = (name: string) => at('charts', name);

const cases: BadInputCase[] = [
  // chartPath: looked at before anything else; the chart's own faults are blamed on it too.
  { name: 'no chartPath', options: { inputs: { chartPath: '' } }, names: "input 'chartPath'", pattern: /is required/ },
  {
    name: 'a chartPath that does not exist',
    options: { inputs: { chartPath: at('nowhere') } },
    names: "input 'chartPath'",
    pattern: /nowhere', which does not exist$/,
  },
  {
    name: 'a chartPath that is a symbolic link loop (was: does not exist)',
    options: { inputs: { chartPath: at('loop') } },
    names: "input 'chartPath'",
    pattern: /loop of symbolic links \(ELOOP\)/,
  },
  {
    name: 'a chartPath of 5,000 characters',
    options: { inputs: { chartPath: `/tmp/${'c'.repeat(5000)}` } },
    names: "input 'chartPath'",
    pattern: /… \(5005 characters\)', which is too long for a path/,
  },
  {
    name: 'a chartPath with a line break',
    options: { inputs: { chartPath: `${SAMPLE}\n${at('nowhere')}` } },
    names: "input 'chartPath'",
    pattern: /sample-service\\n.*holds a control character/,
  },
  {
    name: 'a chartPath of ../../.. (was: blamed on destination)',
    options: { inputs: { chartPath: '../../..' } },
    names: "input 'chartPath'",
    pattern: /is '\/', which holds no Chart\.yaml/,
  },
  {
    name: 'a chartPath that is a file other than Chart.yaml',
    options: { inputs: { chartPath: path.join(SAMPLE, 'values.yaml') } },
    names: "input 'chartPath'",
    pattern: /is a file, not a folder/,
  },
  {
    name: 'a chartPath without Chart.yaml',
    options: { inputs: { chartPath: chart('no-chart-yaml') } },
    names: "input 'chartPath'",
    pattern: /which holds no Chart\.yaml/,
  },
  {
    name: 'a Chart.yaml that is a folder (was: blamed on .helmignore)',
    options: { inputs: { chartPath: chart('chart-yaml-folder') } },
    names: "input 'chartPath'",
    pattern: /holds a Chart\.yaml that is a folder, not a file$/,
  },
  {
    name: 'a chartPath left with an undefined variable',
    options: { inputs: { chartPath: '$(Chart.Folder)' } },
    names: "input 'chartPath'",
    pattern: /holds '\$\(Chart\.Folder\)', a variable this job does not define/,
  },
  {
    name: 'a chart with a symbolic link out of it',
    options: { inputs: { chartPath: chart('symlink-out') } },
    names: "input 'chartPath'",
    pattern: /templates\/leak\.txt is a symbolic link to .*outside the chart/,
  },
  {
    name: 'a chart with a symbolic link loop inside',
    options: { inputs: { chartPath: chart('symlink-loop') } },
    names: "input 'chartPath'",
    pattern: /templates\/loop is a symbolic link in a loop of links/,
  },
  {
    name: 'a chart name that is not valid',
    options: { inputs: { chartPath: chart('bad-name') } },
    names: "input 'chartPath'",
    pattern: /name 'Bad_Name' is not a valid chart name/,
  },
  {
    name: 'a Chart.yaml version that is not a version',
    options: { inputs: { chartPath: chart('bad-version') } },
    names: "input 'chartPath'",
    pattern: /version 'one' is not a SemVer version/,
  },
  {
    name: 'a Chart.yaml version helm takes but SemVer does not',
    options: { inputs: { chartPath: chart('lenient-version') } },
    names: "input 'chartPath'",
    pattern: /Chart\.yaml version 'v1\.2' is not a SemVer 2 version.*or set chartVersion/,
  },
  {
    name: 'a Chart.yaml that is not YAML',
    options: { inputs: { chartPath: chart('bad-yaml') } },
    names: "input 'chartPath'",
    pattern: /Chart\.yaml is not valid YAML/,
  },
  {
    name: 'a dependency charts/ does not hold',
    options: { inputs: { chartPath: chart('missing-dep') } },
    names: "input 'chartPath'",
    pattern: /declares dependency 'lib' .*set updateDependencies/,
  },
  {
    name: 'a file:// dependency that is not there, with updateDependencies',
    options: { inputs: { chartPath: chart('missing-dep'), updateDependencies: 'true' } },
    names: "input 'chartPath'",
    pattern: /dependency 'lib' points at file:\/\/\.\.\/lib, but .* is not a folder/,
  },
  {
    name: 'a YAML alias bomb in Chart.yaml dependencies[].import-values',
    options: { inputs: { chartPath: chart('bomb-chart-yaml') } },
    names: "input 'chartPath'",
    pattern: /Chart\.yaml expands YAML aliases more than \d+ times/,
  },
  {
    name: 'a YAML alias bomb in Chart.lock',
    options: { inputs: { chartPath: chart('bomb-lock') } },
    names: "input 'chartPath'",
    pattern: /Chart\.lock expands YAML aliases more than \d+ times/,
  },
  {
    name: 'a YAML alias bomb in values.yaml, with a digest to pin',
    options: { inputs: { chartPath: chart('bomb-values'), imageDigest: DIGEST } },
    names: "input 'chartPath'",
    pattern: /values\.yaml expands YAML aliases more than \d+ times/,
  },

  // destination: outside the chart and proven writable (by a probe that leaves nothing) before the chart is read.
  {
    name: 'a destination that is a file',
    options: { inputs: { destination: at('a-file') } },
    names: "input 'destination'",
    pattern: /a-file' is a file, not a folder/,
  },
  {
    name: 'a destination below a file',
    options: { inputs: { destination: at('a-file', 'out') } },
    names: "input 'destination'",
    pattern: /a-file' is a file, so the folder .* cannot be made/,
  },
  {
    name: 'a destination on a read-only mount',
    options: { inputs: { destination: at('read-only') } },
    names: "input 'destination'",
    pattern: /read-only file system \(EROFS\)/,
  },
  {
    name: 'a destination to be made on a read-only mount',
    options: { inputs: { destination: at('read-only', 'charts', 'out') } },
    names: "input 'destination'",
    pattern: /cannot make the folder .*read-only\/charts'.*\(EROFS\)/,
  },
  {
    name: 'an immutable destination',
    options: { inputs: { destination: at('immutable') } },
    names: "input 'destination'",
    pattern: /\(EPERM\)/,
  },
  {
    name: 'a destination under /proc (was: a hang in a recursive mkdir)',
    options: { inputs: { destination: '/proc/outerloop/charts' } },
    names: "input 'destination'",
    pattern: /cannot make the folder '\/proc\/outerloop'/,
  },
  {
    name: 'a destination inside the chart',
    options: { inputs: { chartPath: chart('no-values'), destination: path.join(chart('no-values'), 'out') } },
    names: "input 'destination'",
    pattern: /inside the chart folder/,
  },
  {
    name: 'a destination that is a link into the chart',
    options: { inputs: { chartPath: chart('no-values'), destination: at('link-into-chart', 'out') } },
    names: "input 'destination'",
    pattern: /inside the chart folder/,
  },
  {
    name: 'a destination with a line break',
    options: { inputs: { destination: `${DESTINATION}\nother` } },
    names: "input 'destination'",
    pattern: /dest\\nother'.*control character/,
  },
  {
    name: 'a destination of 5,000 characters',
    options: { inputs: { destination: `${DESTINATION}/${'d/'.repeat(2500)}` } },
    names: "input 'destination'",
    pattern: /characters\)', where the package cannot be written: .*too long/,
  },
  {
    name: 'a destination left with an undefined variable',
    options: { inputs: { destination: '$(Build.StagingDirectory)/charts' } },
    names: "input 'destination'",
    pattern: /variable this job does not define/,
  },

  // versions.
  {
    name: 'a chartVersion that is not SemVer',
    options: { inputs: { chartVersion: '1.4' } },
    names: "input 'chartVersion'",
    pattern: /is not a SemVer 2 version: '1\.4'/,
  },
  { name: 'a chartVersion with a space', options: { inputs: { chartVersion: '1.4.0 beta' } }, names: "input 'chartVersion'" },
  { name: 'a chartVersion with a leading zero', options: { inputs: { chartVersion: '1.04.0' } }, names: "input 'chartVersion'" },
  { name: 'a chartVersion that is a tag name', options: { inputs: { chartVersion: 'latest' } }, names: "input 'chartVersion'" },
  {
    name: 'a release/ branch whose last segment is not SemVer',
    options: { variables: { 'Build.SourceBranch': 'refs/heads/release/sample-service/latest' } },
    names: "input 'versionFromBranch'",
    pattern: /source branch \(Build\.SourceBranch\) is 'refs\/heads\/release\/sample-service\/latest'.*or set chartVersion/,
  },
  {
    name: 'a release/ branch with a two-part version',
    options: { variables: { 'Build.SourceBranch': 'refs/heads/release/v1.4' } },
    names: "input 'versionFromBranch'",
    pattern: /last segment 'v1\.4' is not a SemVer version/,
  },
  {
    name: 'an appVersion with a line break',
    options: { inputs: { appVersion: '1.0.0\n2.0.0' } },
    names: "input 'appVersion'",
    pattern: /must be one line, got '1\.0\.0\\n2\.0\.0'$/,
  },
  {
    name: 'an appVersion that cannot be the image tag',
    options: { inputs: { chartPath: chart('empty-tag'), imageDigest: DIGEST, appVersion: '1.0 beta' } },
    names: "input 'appVersion'",
    pattern: /is '1\.0 beta', which is not an image tag/,
  },
  {
    name: 'no tag anywhere for the digest to follow',
    options: { inputs: { chartPath: chart('empty-tag'), imageDigest: DIGEST } },
    names: "input 'appVersion'",
    pattern: /is not set, and neither Chart\.yaml's appVersion nor 'image\.tag'/,
  },

  // image pinning.
  {
    name: 'an imageDigest that is a tag',
    options: { inputs: { imageDigest: 'latest' } },
    names: "input 'imageDigest'",
    pattern: /is not a digest: 'latest'/,
  },
  { name: 'an imageDigest that is too short', options: { inputs: { imageDigest: 'sha256:abc123' } }, names: "input 'imageDigest'" },
  { name: 'an imageDigest in upper case', options: { inputs: { imageDigest: DIGEST.toUpperCase() } }, names: "input 'imageDigest'" },
  {
    name: 'an imageDigest with the repository in front',
    options: { inputs: { imageDigest: `myacr.azurecr.io/app@${DIGEST}` } },
    names: "input 'imageDigest'",
  },
  {
    name: 'an imageDigest for a chart without values.yaml',
    options: { inputs: { chartPath: chart('no-values'), imageDigest: DIGEST } },
    names: "input 'imageDigest'",
    pattern: /has no values\.yaml to pin the image in/,
  },
  {
    name: 'an imageRepository without imageDigest',
    options: { inputs: { imageRepository: 'myacr.azurecr.io/app' } },
    names: "input 'imageRepository'",
    pattern: /is set but imageDigest is not/,
  },
  {
    name: 'an imageRepository with a tag',
    options: { inputs: { imageDigest: DIGEST, imageRepository: 'myacr.azurecr.io/app:1.0' } },
    names: "input 'imageRepository'",
    pattern: /a repository has no tag or digest/,
  },
  {
    name: 'an imageRepository with a digest',
    options: { inputs: { imageDigest: DIGEST, imageRepository: `myacr.azurecr.io/app@${DIGEST}` } },
    names: "input 'imageRepository'",
    pattern: /a repository has no tag or digest/,
  },
  {
    name: 'an imageRepository in upper case',
    options: { inputs: { imageDigest: DIGEST, imageRepository: 'myacr.azurecr.io/App' } },
    names: "input 'imageRepository'",
    pattern: /lower case/,
  },
  {
    name: 'an imageRepository with a Cyrillic look-alike letter',
    options: { inputs: { imageDigest: DIGEST, imageRepository: 'myacr.azurecr.io/аpp' } },
    names: "input 'imageRepository'",
    pattern: /U\+0430\) is not ASCII, though it looks like 'a'/,
  },
  {
    name: 'an imageRepository with a line break',
    options: { inputs: { imageDigest: DIGEST, imageRepository: 'myacr.azurecr.io/app\nother' } },
    names: "input 'imageRepository'",
    pattern: /app\\nother'/,
  },
  {
    name: 'imageValuesKey __proto__ (was: Succeeded, pinning nothing)',
    options: { inputs: { imageDigest: DIGEST, imageValuesKey: '__proto__' } },
    names: "input 'imageValuesKey'",
    pattern: /uses the reserved key '__proto__'/,
  },
  {
    name: 'imageValuesKey through constructor',
    options: { inputs: { imageDigest: DIGEST, imageValuesKey: 'image.constructor' } },
    names: "input 'imageValuesKey'",
    pattern: /reserved key 'constructor'/,
  },
  {
    name: 'imageValuesKey prototype',
    options: { inputs: { imageDigest: DIGEST, imageValuesKey: 'prototype' } },
    names: "input 'imageValuesKey'",
    pattern: /reserved key 'prototype'/,
  },
  {
    name: 'imageValuesKey naming nothing in values.yaml',
    options: { inputs: { imageDigest: DIGEST, imageValuesKey: 'imgae' } },
    names: "input 'imageValuesKey'",
    pattern: /has no 'imgae' \(at the top, its keys: image, greeting,/,
  },
  {
    name: 'imageValuesKey naming nothing under a map',
    options: { inputs: { imageDigest: DIGEST, imageValuesKey: 'image.app' } },
    names: "input 'imageValuesKey'",
    pattern: /has no 'image\.app' \(under 'image', its keys: repository, tag, digest, pullPolicy\)/,
  },
  {
    name: 'imageValuesKey naming a scalar',
    options: { inputs: { imageDigest: DIGEST, imageValuesKey: 'greeting.name' } },
    names: "input 'imageValuesKey'",
    pattern: /'greeting\.name' in .* holds the string 'world', not a map/,
  },
  {
    name: 'imageValuesKey naming a list',
    options: { inputs: { imageDigest: DIGEST, imageValuesKey: 'tolerations' } },
    names: "input 'imageValuesKey'",
    pattern: /holds a list, not a map/,
  },
  {
    name: 'imageValuesKey mistyped below a subchart alias (was: Succeeded, pinning a map nothing renders)',
    options: { inputs: { chartPath: STOREFRONT, imageDigest: DIGEST, imageValuesKey: 'sessions.imgae' } },
    names: "input 'imageValuesKey'",
    pattern:
      /the merged values of subchart 'sessions' .* have no 'sessions\.imgae' \(under 'sessions', its keys: architecture, image, global, auth\)/,
  },
  {
    name: 'imageValuesKey with a mistyped subchart alias',
    options: { inputs: { chartPath: STOREFRONT, imageDigest: DIGEST, imageValuesKey: 'sesions.image' } },
    names: "input 'imageValuesKey'",
    pattern: /has no 'sesions' \(at the top, .*; subcharts: redis, sessions, promtail, logs, grafana, web, api, ingress\)/,
  },
  {
    name: 'imageValuesKey naming a map of no image layout',
    options: { inputs: { imageDigest: DIGEST, imageValuesKey: 'serviceAccount' } },
    names: "input 'imageValuesKey'",
    pattern: /'serviceAccount' in .* is not an image layout pinning can fill \(its keys: create, name\)/,
  },
  {
    name: "an imageRepository without a host for a subchart image that keeps its registry apart (was: the subchart's registry in front)",
    options: { inputs: { chartPath: STOREFRONT, imageDigest: DIGEST, imageValuesKey: 'redis.image', imageRepository: 'team/redis' } },
    names: "input 'imageRepository'",
    pattern: /without a registry host, .*'redis\.image\.registry' is 'docker\.io'/,
  },
  {
    name: 'imageValuesKey with an empty segment',
    options: { inputs: { imageDigest: DIGEST, imageValuesKey: 'image..tag' } },
    names: "input 'imageValuesKey'",
    pattern: /not a dotted key path/,
  },
  {
    name: 'imageValuesKey with a leading dot',
    options: { inputs: { imageDigest: DIGEST, imageValuesKey: '.image' } },
    names: "input 'imageValuesKey'",
    pattern: /not a dotted key path/,
  },

  // booleans.
  { name: 'push yes', options: { inputs: { push: 'yes' } }, names: "input 'push'", pattern: /must be true or false, got 'yes'/ },
  { name: 'updateDependencies 1', options: { inputs: { updateDependencies: '1' } }, names: "input 'updateDependencies'" },
  { name: 'versionFromBranch maybe', options: { inputs: { versionFromBranch: 'maybe' } }, names: "input 'versionFromBranch'" },

  // the push target, checked before the package is written.
  {
    name: 'push without chartRepository',
    options: { inputs: { push: 'true' } },
    names: "input 'chartRepository'",
    pattern: /is required when push is true/,
  },
  {
    name: 'a chartRepository with an https:// scheme',
    options: { inputs: { push: 'true', chartRepository: 'https://myacr.azurecr.io/helm' } },
    names: "input 'chartRepository'",
    pattern: /drop the 'https:\/\/' prefix/,
  },
  {
    name: 'a chartRepository in upper case',
    options: { inputs: { push: 'true', chartRepository: 'myacr.azurecr.io/Helm' } },
    names: "input 'chartRepository'",
    pattern: /lower case/,
  },
  {
    name: 'a chartRepository without a host and no containerRegistry',
    options: { inputs: { push: 'true', chartRepository: 'helm' } },
    names: "input 'chartRepository'",
    pattern: /names no registry host/,
  },
  {
    name: 'a chartRepository with a line break',
    options: { inputs: { push: 'true', chartRepository: 'myacr.azurecr.io/helm\nother' } },
    names: "input 'chartRepository'",
    pattern: /helm\\nother'/,
  },
  {
    name: 'a chartRepository left with an undefined variable',
    options: { inputs: { push: 'true', chartRepository: '$(Registry.Host)/helm' } },
    names: "input 'chartRepository'",
    pattern: /variable this job does not define/,
  },
  {
    name: 'a containerRegistry this job cannot see',
    options: { inputs: { push: 'true', chartRepository: 'myacr.azurecr.io/helm', containerRegistry: 'no-such-connection' } },
    names: "input 'containerRegistry'",
    pattern: /which this job cannot see/,
  },
];

/** Where the lock file cases would push to if a check were missing. */
const LOCK_CASES_REPOSITORY = 'bad-input-lock/charts';

const lockCases: BadInputCase[] = [
  {
    name: 'a lockFile in a read-only folder',
    options: { inputs: { lockFile: at('read-only', 'image-lock.json') } },
    names: "input 'lockFile'",
    pattern: /cannot be written: cannot write in .*read-only file system \(EROFS\)/,
  },
  {
    name: 'a lockFile in an immutable folder',
    options: { inputs: { lockFile: at('immutable', 'image-lock.json') } },
    names: "input 'lockFile'",
    pattern: /\(EPERM\)/,
  },
  {
    name: 'a lockFile that is a folder',
    options: { inputs: { lockFile: at('immutable') } },
    names: "input 'lockFile'",
    pattern: /is a folder, not a file/,
  },
  {
    name: 'a lockFile that is not a lock file',
    options: { inputs: { lockFile: at('not-a-lock.json') } },
    names: "input 'lockFile'",
    pattern: /names a file this push cannot be merged into: the lock file '.*not-a-lock\.json' is not JSON/,
  },
  {
    name: 'a lockFile of a version this task does not read',
    options: { inputs: { lockFile: at('v3-lock.json') } },
    names: "input 'lockFile'",
    pattern: /has version 3; this task reads versions 1 and 2/,
  },
  {
    name: 'a lockFile with a line break',
    options: { inputs: { lockFile: 'image-lock.json\n/etc/passwd' } },
    names: "input 'lockFile'",
    pattern: /holds a control character/,
  },
  {
    name: 'an artifact name with a slash',
    options: { inputs: { artifactName: 'charts/lock' } },
    names: "input 'artifactName'",
    pattern: /is 'charts\/lock': an artifact name cannot contain/,
  },
  { name: 'publishLockArtifact yes', options: { inputs: { publishLockArtifact: 'yes' } }, names: "input 'publishLockArtifact'" },
];

/** Tags in every repository a push case could write to if a check were missing. */
const PUSHED_REPOSITORIES = ['bad-input/charts/sample-service', 'elsewhere/charts/sample-service'];

let htpasswd: TestRegistry;
let token: TestRegistry;
let downPort: number;
let silent: { port: number; close(): Promise<void> };

/** A host that takes connections and never answers: the network layer's first-byte limit must end the push. */
function silentHost(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => {
          for (const socket of sockets) socket.destroy();
          return new Promise((done) => server.close(() => done()));
        },
      }),
    );
  });
}

const pushCases: BadInputCase[] = [
  {
    name: 'a wrong password (the secret in no encoding anywhere)',
    options: late(
      () => ({}),
      () => [registryEndpoint('reg', htpasswd.url, { username: 'promoter', password: WRONG_PASSWORD })],
    ),
    names: "input 'containerRegistry'",
    pattern: /holds credentials that 127\.0\.0\.1:\d+ refused: push chart oci:\/\/.*401 .*; the package written to .* was removed$/,
  },
  {
    name: 'no containerRegistry for a registry that wants credentials',
    options: late(() => ({ containerRegistry: '' })),
    names: "input 'containerRegistry'",
    pattern: /gives no credentials for 127\.0\.0\.1:\d+, which refused the push/,
  },
  {
    name: "another registry's connection",
    options: late(
      () => ({ containerRegistry: 'other' }),
      () => [registryEndpoint('other', token.url, userOf(token, 'promoter'))],
    ),
    names: "input 'containerRegistry'",
    pattern: /gives no credentials for 127\.0\.0\.1:\d+/,
  },
  {
    name: 'a user who may not push to the repository',
    options: late(
      () => ({ chartRepository: `${token.host}/elsewhere/charts` }),
      () => [registryEndpoint('reg', token.url, userOf(token, 'scoped'))],
    ),
    names: "input 'containerRegistry'",
    pattern: /user 'scoped'/,
  },
  {
    name: 'a registry host that takes the connection and never answers (was: over three minutes)',
    options: late(() => ({ chartRepository: `127.0.0.1:${silent.port}/bad-input/charts`, containerRegistry: '' })),
    names: "input 'chartRepository'",
    pattern:
      /where the chart could not be pushed: .*127\.0\.0\.1:\d+ took the request but sent no response within 30 s.*; the package written to .* was removed$/,
  },
  {
    name: 'a registry that is down',
    options: late(() => ({ chartRepository: `127.0.0.1:${downPort}/bad-input/charts`, containerRegistry: '' })),
    names: "input 'chartRepository'",
    pattern: /where the chart could not be pushed: .*; the package written to .* was removed$/,
  },
];

describe('PackageHelmChart@1 bad input (bundle): one line naming the input, no package, no chart file changed', function () {
  before(async function () {
    await bundleOnce();
    fs.mkdirSync(DESTINATION);
    for (const [name, files] of Object.entries(CHARTS)) {
      for (const [file, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(chart(name), file)), { recursive: true });
        fs.writeFileSync(path.join(chart(name), file), text);
      }
    }
    fs.mkdirSync(path.join(chart('chart-yaml-folder'), 'Chart.yaml'), { recursive: true });
    fs.writeFileSync(at('outside-secret.txt'), 'not part of any chart\n');
    fs.symlinkSync(at('outside-secret.txt'), path.join(chart('symlink-out'), 'templates', 'leak.txt'));
    fs.symlinkSync('loop', path.join(chart('symlink-loop'), 'templates', 'loop'));
    fs.symlinkSync(at('loop'), at('loop'));
    fs.symlinkSync(chart('no-values'), at('link-into-chart'));
    fs.writeFileSync(at('a-file'), 'not a folder');
    fs.mkdirSync(at('immutable'));
    makeImmutable(this, at('immutable'));
    mountReadOnly(this, at('read-only'));
  });

  after(() => {
    undoReadOnly();
    fs.rmSync(work, { recursive: true, force: true });
  });

  badInputCases({
    task: TASK,
    base: () => ({ inputs: { chartPath: SAMPLE, destination: DESTINATION }, variables: { 'Build.SourceBranch': 'refs/heads/main' } }),
    sideEffects: () => Promise.resolve(`${folderSnapshot(work)}\n---\n${folderSnapshot(SAMPLE)}`),
    cases,
  });

  describe('push to real registries', function () {
    before(async function () {
      requireRegistry(this);
      htpasswd = await sharedRegistry('htpasswd');
      token = await sharedRegistry('token');
      downPort = await freeLoopbackPort();
      silent = await silentHost();
    });
    after(async () => {
      await silent?.close();
    });

    badInputCases({
      task: TASK,
      base: () => ({
        inputs: {
          chartPath: SAMPLE,
          destination: DESTINATION,
          push: 'true',
          chartRepository: `${htpasswd.host}/bad-input/charts`,
          containerRegistry: 'reg',
        },
        endpoints: [registryEndpoint('reg', htpasswd.url, userOf(htpasswd, 'promoter'))],
      }),
      secrets: () => [...htpasswd.secrets(), ...token.secrets(), WRONG_PASSWORD],
      sideEffects: async () => {
        const tags = await Promise.all(
          [htpasswd, token].flatMap((registry) =>
            PUSHED_REPOSITORIES.map(
              async (repo) => `${registry.kind} ${repo}: ${(await listTags(registry, repo, registry.users[0])).join(' ')}`,
            ),
          ),
        );
        return `${tags.join('\n')}\n---\n${folderSnapshot(work)}`;
      },
      cases: pushCases,
    });
  });

  describe('the lock file a push is recorded in, checked before the package is written', function () {
    let registry: TestRegistry;
    before(async function () {
      requireRegistry(this);
      registry = await sharedRegistry('anonymous');
      fs.writeFileSync(at('not-a-lock.json'), '{"images": [');
      fs.writeFileSync(at('v3-lock.json'), '{"version": 3, "entries": []}');
    });

    badInputCases({
      task: TASK,
      base: () => ({
        inputs: { chartPath: SAMPLE, destination: DESTINATION, push: 'true', chartRepository: `${registry.host}/${LOCK_CASES_REPOSITORY}` },
      }),
      sideEffects: async () =>
        `${(await listTags(registry, `${LOCK_CASES_REPOSITORY}/sample-service`, null)).join(' ')}\n---\n${folderSnapshot(work)}`,
      cases: lockCases,
    });
  });
});
