import { FORMAT_LABELS, type ResultFormat } from './model';
import type { TestRunPublisher, TestRunSession, TestRunSpec } from './publisher';

/** A `##vso[name properties]message` logging command, before the agent's escaping (task-lib applies it). */
export interface LoggingCommand {
  name: string;
  properties: Record<string, string>;
  message: string;
}

/** Shown as the run's source in Azure DevOps. */
export const TEST_RUN_SYSTEM = 'PublishContainerTestResults';

/**
 * The `results.publish` command for one run ("Logging commands", `##vso[results.publish]`): the agent reads the
 * files itself. `resultFiles` is comma-separated, so a path with a comma cannot be expressed (see `refuses`).
 */
export function resultsPublishCommand(spec: TestRunSpec): LoggingCommand {
  const formats = new Set(spec.formats.map((f) => FORMAT_LABELS[f]));
  if (formats.size !== 1) throw new Error(`one results.publish command takes one format, got ${[...formats].join(', ')}`);
  const properties: Record<string, string> = {
    type: [...formats][0],
    mergeResults: String(spec.merged),
    runTitle: spec.title,
    publishRunAttachments: String(spec.publishAttachments),
    resultFiles: spec.files.join(','),
    testRunSystem: TEST_RUN_SYSTEM,
  };
  if (spec.buildPlatform) properties.platform = spec.buildPlatform;
  if (spec.buildConfiguration) properties.config = spec.buildConfiguration;
  return { name: 'results.publish', properties, message: '' };
}

/**
 * `publishMode: agent`: each run becomes one `results.publish` command, sent when the run completes (so a run
 * that fails before that sends nothing). The agent's run ids are not known to the task.
 */
export function createAgentPublisher(send: (command: LoggingCommand) => void): TestRunPublisher {
  return {
    mode: 'agent',
    readsFiles: true,
    refuses(file) {
      return file.includes(',') ? "has a comma in its path, which the agent's results.publish cannot take" : undefined;
    },
    startRun(spec): Promise<TestRunSession> {
      const command = resultsPublishCommand(spec);
      const nothing = () => Promise.resolve();
      return Promise.resolve({
        runId: undefined,
        addResults: () => Promise.resolve(undefined),
        addRunAttachment: nothing,
        addResultAttachment: nothing,
        complete() {
          send(command);
          return Promise.resolve();
        },
        abort: nothing,
      });
    },
  };
}

/** The agent publishes one format per command, so merged agent runs are grouped by this key. */
export function agentFormatKey(format: ResultFormat): string {
  return FORMAT_LABELS[format];
}
