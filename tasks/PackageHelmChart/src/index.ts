import * as fs from 'node:fs';
import { packageChart } from '../../../shared/src/helm';
import { pushChartToRegistry } from '../../../shared/src/helm/registry-target';
import { runTask } from '../../../shared/src/pipeline';
import { readPackageHelmChartInputs } from './inputs';

runTask(async ({ inputs, variables, outputs, log, signal, network }) => {
  const options = readPackageHelmChartInputs(inputs, variables, log);
  const chart = await packageChart(options.package, log);
  if (options.push) {
    const pushed = await pushChartToRegistry(chart, { ...options.push, transport: { signal, network } }, log).catch((error: unknown) => {
      // A failed task leaves no package behind that a later step could mistake for the pushed one.
      fs.rmSync(chart.packagePath, { force: true });
      log.info(`removed ${chart.packagePath}: the push failed`);
      throw error;
    });
    outputs.set('chartReference', pushed.chartReference);
    outputs.set('chartDigest', pushed.chartDigest);
  }
  outputs.set('chartPackage', chart.packagePath);
  outputs.set('chartVersion', chart.version);
});
