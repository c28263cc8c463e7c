// Replaces semver in task-lib's part of the bundles (~18 KB per task). task-lib calls only `semver.lt`: on Node's own
// version as it loads, and on agent versions in assertAgent, all plain major.minor.patch. This compares those and
// refuses anything else rather than guess.
function parts(version) {
  const match = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(String(version).trim());
  if (!match) throw new Error(`semver.lt in the task bundle compares plain major.minor.patch versions, not '${version}'`);
  return match.slice(1).map(Number);
}

exports.lt = function lt(a, b) {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] < y[i];
  return false;
};
