import { strict as assert } from 'node:assert';
import { chartSummary, type ChartSummaryInput } from '../../shared/src/helm/summary';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const IMAGE_DIGEST = `sha256:${'cd'.repeat(32)}`;

const chart: ChartSummaryInput['chart'] = {
  name: 'delivery',
  version: '1.4.0+build.7',
  appVersion: '2024.06.1',
  versionSource: 'branch',
  packagePath: '/a/delivery-1.4.0+build.7.tgz',
  sha256: 'ef'.repeat(32),
  pinnedValues: ['image.repository=myrepo.azurecr.io/delivery', `image.digest=${IMAGE_DIGEST}`],
};

function pushedTo(ociRepository: string): NonNullable<ChartSummaryInput['pushed']> {
  return { ociRepository, tag: '1.4.0_build.7', chartDigest: DIGEST, chartReference: `${ociRepository}@${DIGEST}` };
}

describe('helm: chartSummary (the run summary of PackageHelmChart; pure)', () => {
  it('names the chart, version, package, pinned values, pushed reference, digest, lock file and a pull command', () => {
    const { title, markdown } = chartSummary({
      chart,
      pushed: pushedTo('oci://myrepo.azurecr.io/helm/delivery'),
      lock: { file: '/a/image-lock.json', artifactName: 'image-lock' },
    });
    assert.equal(title, 'Helm chart delivery 1.4.0+build.7');
    const lines = markdown.split('\n');
    assert.equal(lines[0], '| Chart | delivery |');
    for (const row of [
      '| Version | `1.4.0+build.7` (from the release branch) |',
      '| App version | `2024.06.1` |',
      '| Package | `/a/delivery-1.4.0+build.7.tgz` |',
      `| Package sha256 | \`sha256:${'ef'.repeat(32)}\` |`,
      `| Values pinned | \`image.repository=myrepo.azurecr.io/delivery\`, \`image.digest=${IMAGE_DIGEST}\` |`,
      '| Pushed | `oci://myrepo.azurecr.io/helm/delivery:1.4.0_build.7` |',
      `| Digest | \`${DIGEST}\` |`,
      `| Pinned reference | \`oci://myrepo.azurecr.io/helm/delivery@${DIGEST}\` |`,
      '| Lock file | `/a/image-lock.json`, published as artifact `image-lock` |',
    ])
      assert.ok(lines.includes(row), `${row}\n---\n${markdown}`);
    assert.ok(
      markdown.includes(
        `\`\`\`sh\nhelm pull oci://myrepo.azurecr.io/helm/delivery --version 1.4.0+build.7\nhelm pull oci://myrepo.azurecr.io/helm/delivery@${DIGEST}\n\`\`\``,
      ),
      markdown,
    );
    assert.doesNotMatch(markdown, /\]\(https?:/, 'no page is derivable for an ACR repository: no link');
  });

  it('links to the Docker Hub page of a chart pushed there, under any of its host names', () => {
    for (const host of ['docker.io', 'registry-1.docker.io']) {
      const { markdown } = chartSummary({ chart, pushed: pushedTo(`oci://${host}/team/delivery`) });
      assert.match(markdown, /\[delivery on Docker Hub\]\(https:\/\/hub\.docker\.com\/r\/team\/delivery\/tags\)/);
    }
  });

  it('without a push says so, pins none and names no lock file', () => {
    const { markdown } = chartSummary({ chart: { ...chart, pinnedValues: [], appVersion: undefined } });
    assert.match(markdown, /^\| Values pinned \| none \|$/m);
    assert.match(markdown, /Not pushed \(push is false\)\./);
    assert.doesNotMatch(markdown, /App version|Lock file|helm pull|Digest \|/);
  });

  it('keeps values from the chart on their row, as literal text', () => {
    const { markdown } = chartSummary({ chart: { ...chart, name: 'a|b', pinnedValues: ['image.tag=x|`y`\nz'] } });
    assert.match(markdown, /^\| Chart \| a\\\|b \|$/m);
    assert.match(markdown, /^\| Values pinned \| ``image\.tag=x\\\|`y` z`` \|$/m);
  });
});
