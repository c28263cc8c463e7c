import * as fs from 'node:fs';
import { chartSummary, packageChart, pushChartToRegistry, type ChartPushResult } from '../../../shared/src/helm';
import { runTask } from '../../../shared/src/pipeline';
import { namingInput, readPackageHelmChartInputs } from './inputs';

runTask(async (task) => {
  const { inputs, variables, outputs, log, signal } = task;
  const options = readPackageHelmChartInputs(inputs, variables, log);
  const { push } = options;
  let { artifactName } = options;
  // Read before the package is written: a bad proxy setting fails the task with nothing done.
  const transport = push && { signal, network: task.network };
  const chart = await packageChart(options.package, log).catch((error: unknown) => {
    throw namingInput(error);
  });
  let pushed: ChartPushResult | undefined;
  if (push) {
    pushed = await pushChartToRegistry(chart, { ...push, transport }, log).catch((error: unknown) => {
      // A failed task leaves no package behind that a later step could mistake for the pushed one.
      fs.rmSync(chart.packagePath, { force: true });
      throw namingInput(error, `the package written to ${chart.packagePath} was removed`, options.loginInput);
    });
    if (artifactName && !task.publishArtifact(artifactName, push.lockFile)) artifactName = undefined;
    outputs.set('chartReference', pushed.chartReference);
    outputs.set('chartDigest', pushed.chartDigest);
  }
  outputs.set('chartPackage', chart.packagePath);
  outputs.set('chartVersion', chart.version);
  const summary = chartSummary({ chart, pushed, lock: push && { file: push.lockFile, artifactName } });
  task.summary(summary.title, summary.markdown);
});
