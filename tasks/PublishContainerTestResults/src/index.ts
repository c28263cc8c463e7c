import { findFiles, readAccessToken, runTask, type TaskContext } from '../../../shared/src/pipeline';
import { connectWithAccessToken, createAgentPublisher, createApiPublisher, publishTestResults } from '../../../shared/src/testresults';
import { readPublishContainerTestResultsInputs } from './inputs';

function apiPublisher(task: TaskContext) {
  const { variables } = task;
  const need = (name: string) => {
    const value = variables.get(name)?.trim();
    if (!value) throw new Error(`variable '${name}' is not set: publishMode 'api' needs it (or use publishMode 'agent')`);
    return value;
  };
  const collectionUri = need('System.TeamFoundationCollectionUri');
  if (!/^https?:\/\/[^\s/]+/i.test(collectionUri)) {
    throw new Error(
      `variable 'System.TeamFoundationCollectionUri' is '${collectionUri}', not an http(s) URL of the collection: the agent sets it; check what overrides it`,
    );
  }
  const token = readAccessToken();
  if (!token)
    throw new Error(
      "the job's access token (SystemVssConnection) is not available: publishMode 'api' needs it (or use publishMode 'agent')",
    );
  return createApiPublisher({
    connect: () => connectWithAccessToken(collectionUri, token, task.network),
    project: need('System.TeamProject'),
    buildId: need('Build.BuildId'),
    buildUri: variables.get('Build.BuildUri') || undefined,
  });
}

runTask(async (ctx) => {
  const { inputs, outputs, log, variables, signal } = ctx;
  const { patterns, searchFolder, publishMode, ...rest } = readPublishContainerTestResultsInputs(inputs, variables);
  const publisher = publishMode === 'api' ? apiPublisher(ctx) : createAgentPublisher((c) => ctx.command(c.name, c.properties, c.message));
  const options = { ...rest, files: findFiles(patterns, searchFolder), patterns, searchFolder, signal };
  const result = await publishTestResults(options, publisher, log);

  outputs.set('totalTests', String(result.counts.total));
  outputs.set('passedTests', String(result.counts.passed));
  outputs.set('failedTests', String(result.counts.failed));
  outputs.set('skippedTests', String(result.counts.skipped));
  outputs.set('testRunId', result.runIds.length > 0 ? String(result.runIds[0]) : '');
  ctx.summary(rest.runTitle || 'Test results', result.summaryMarkdown);
  for (const issue of result.issues) ctx.issues(issue, { warned: true });
  if (result.failure) throw new Error(result.failure);
});
