import { strict as assert } from 'node:assert';
import { memoryLog } from '../../shared/src/log';
import { ChartError } from '../../shared/src/helm/errors';
import { chooseChartVersion, isChartSemver, ociTag, versionFromBranch } from '../../shared/src/helm/version';

describe('helm: chart version from the branch', () => {
  const branches: [string, string][] = [
    ['release/delivery/1.4.0', '1.4.0'],
    ['refs/heads/release/delivery/1.4.0', '1.4.0'],
    ['release/1.4.0', '1.4.0'],
    ['refs/heads/release/v2.0.1', '2.0.1'],
    ['release/delivery/v1.4.0-rc.1+build.7', '1.4.0-rc.1+build.7'],
    ['release/team/delivery/3.0.0', '3.0.0'],
  ];
  for (const [branch, version] of branches) {
    it(`${branch} → ${version}`, () => assert.equal(versionFromBranch(branch), version));
  }

  it('leaves branches outside release/ alone', () => {
    for (const b of ['main', 'refs/heads/main', 'feature/release/1.0.0', 'releases/1.0.0', 'refs/pull/7/merge']) {
      assert.equal(versionFromBranch(b), undefined, b);
    }
  });

  it('fails for a release branch whose last segment is not SemVer, naming the branch', () => {
    for (const b of [
      'release/delivery/latest',
      'refs/heads/release/1.4',
      'release/',
      'release/delivery/01.2.3',
      'release/delivery/vv1.0.0',
    ]) {
      assert.throws(
        () => versionFromBranch(b),
        (e: Error) =>
          e instanceof ChartError &&
          e.message.startsWith(`branch is '${b}'`) &&
          /not a SemVer version/.test(e.message) &&
          e.blame?.option === 'branch',
        b,
      );
    }
  });

  it('prefers chartVersion, then the release branch, then Chart.yaml — and says why it keeps Chart.yaml', () => {
    const log = memoryLog();
    assert.deepEqual(chooseChartVersion('0.1.0', { chartVersion: '2.0.0', branch: 'release/x/1.0.0' }, log), {
      version: '2.0.0',
      source: 'chartVersion',
    });
    assert.deepEqual(chooseChartVersion('0.1.0', { branch: 'refs/heads/release/x/1.0.0' }, log), { version: '1.0.0', source: 'branch' });
    assert.deepEqual(chooseChartVersion('0.1.0', { branch: 'refs/heads/main' }, log), { version: '0.1.0', source: 'Chart.yaml' });
    assert.match(log.lines.join('\n'), /branch 'refs\/heads\/main' is not a release branch .*keeping the Chart.yaml version 0\.1\.0/);
    assert.deepEqual(chooseChartVersion('v0.1.0', {}, log), { version: 'v0.1.0', source: 'Chart.yaml' });
  });

  it('refuses versions that are not SemVer 2, naming where they came from', () => {
    const log = memoryLog();
    assert.throws(
      () => chooseChartVersion('0.1.0', { chartVersion: '1.2' }, log),
      /^ChartError: chartVersion is not a SemVer 2 version: '1\.2'/,
    );
    assert.throws(() => chooseChartVersion('1.2', {}, log), /Chart.yaml version '1\.2' is not a SemVer 2 version/);
    assert.throws(
      () => chooseChartVersion('0.1.0', { branch: 'release/delivery/latest' }, log),
      /^ChartError: branch is 'release\/delivery\/latest'/,
    );
  });

  it('checks SemVer 2 strictly, allowing the leading v helm accepts', () => {
    for (const v of ['0.0.0', '1.2.3-alpha.1', '1.2.3+20240101.sha.abc', 'v0.1.0', '10.20.30-rc.1+b.2']) assert.ok(isChartSemver(v), v);
    for (const v of ['1.2', '1', '01.2.3', '1.2.3-', '1.2.3-01', 'latest', ' 1.2.3', '1.2.3 ']) assert.ok(!isChartSemver(v), v);
  });

  it('derives the OCI tag as helm does: + becomes _', () => {
    assert.equal(ociTag('1.4.0+build.7'), '1.4.0_build.7');
    assert.equal(ociTag('v0.1.0'), 'v0.1.0');
  });
});
