// A one-shot packaging process for bench/helm: what a bundled task pays (Node start, bundle load, packaging).
// Usage: node cli.js <chartPath> <destination> [--update]; prints the sha256.
import { packageChart } from '../../shared/src/helm/package';
import { silentLog } from '../../shared/src/log';

const [chartPath, destination, flag] = process.argv.slice(2);
packageChart({ chartPath, destination, updateDependencies: flag === '--update' }, silentLog)
  .then((result) => process.stdout.write(`${result.sha256}\n`))
  .catch((error: Error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
