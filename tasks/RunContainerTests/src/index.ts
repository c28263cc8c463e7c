import { connectEngine, runSummary, runTests } from '../../../shared/src/docker';
import { InputError, runTask } from '../../../shared/src/pipeline';
import { readRunContainerTestsInputs } from './inputs';

runTask(async ({ inputs, variables, outputs, log, issues, signal, summary }) => {
  const options = readRunContainerTestsInputs(inputs, variables);
  const result = await runTests(connectEngine(), { ...options.run, signal }, log);
  // Set before the outcome is decided: a publish step after a failed run (succeededOrFailed()) reads them.
  if (result.exitCode !== undefined) outputs.set('exitCode', String(result.exitCode));
  outputs.set('resultsDirectory', result.resultsDirectory);
  outputs.set('resultFiles', String(result.resultFiles.length));
  // Every outcome gets its summary: a failed run most needs to say whether the tests or the run itself failed.
  summary('Container tests', runSummary(result, options.run));
  // The run's options are this task's inputs, by the same names.
  if (result.blame) throw new InputError(result.blame.option, result.blame.problem);
  if (result.outcome === 'couldNotRun') throw new Error(result.message);
  if (result.outcome === 'testsFailed') {
    if (options.failOnTestFailure) throw new Error(result.message);
    issues(`${result.message} (failOnTestFailure is false)`);
  }
});
