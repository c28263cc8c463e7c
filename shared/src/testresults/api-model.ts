// Our model → the Test REST API's contracts (azure-devops-node-api TestInterfaces), for api mode:
//   TestCaseResult with subResults and resultGroupType — "Results - Add",
//     https://learn.microsoft.com/rest/api/azure/devops/test/results/add?view=azure-devops-rest-7.1
//   PipelineReference on RunCreateModel — "Runs - Create",
//     https://learn.microsoft.com/rest/api/azure/devops/test/runs/create?view=azure-devops-rest-7.1
import type {
  CustomTestField,
  PipelineReference,
  ResultGroupType,
  TestCaseResult,
  TestSubResult,
} from 'azure-devops-node-api/interfaces/TestInterfaces';
import { FORMAT_LABELS, outcomeClass, type ResultFormat, type SubResult, type TestResult } from './model';
import type { PipelineNode, RunOrigin } from './publisher';

/** Stage, phase and job names longer than this are refused by the service (PipelineReference docs). */
const MAX_PIPELINE_NAME_CHARS = 256;
/** `comment` holds at most this many characters (TestCaseResult docs). */
const MAX_COMMENT_CHARS = 1000;

/**
 * The custom fields the service takes on a result without registration (CustomTestField docs: "Allowed Key : Value
 * pairs - ( AttemptId: int value, IsTestResultFlaky: bool)"); bit and int values go as strings.
 */
const FLAKY_FIELD = 'IsTestResultFlaky';
const ATTEMPT_FIELD = 'AttemptId';

/**
 * The Test API's value for a group type. Its enum comes with the API client, loaded on first use (api mode only: the
 * client is its own lib/ file, so a start never reads it).
 */
function groupType(name: keyof typeof ResultGroupType): ResultGroupType {
  type TestInterfaces = typeof import('azure-devops-node-api/interfaces/TestInterfaces');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- on first use, see above
  const api = require('azure-devops-node-api/interfaces/TestInterfaces') as TestInterfaces;
  return api.ResultGroupType[name];
}

function toTestSubResult(sub: SubResult, sequenceId: number): TestSubResult {
  const body: TestSubResult = { displayName: sub.displayName, outcome: sub.outcome, sequenceId };
  if (sub.durationMs !== undefined) body.durationInMs = sub.durationMs;
  if (sub.startedDate) body.startedDate = new Date(sub.startedDate);
  if (sub.completedDate) body.completedDate = new Date(sub.completedDate);
  if (sub.computerName) body.computerName = sub.computerName;
  if (sub.errorMessage) body.errorMessage = sub.errorMessage;
  if (sub.stackTrace) body.stackTrace = sub.stackTrace;
  if (sub.attempt !== undefined) body.customFields = [{ fieldName: ATTEMPT_FIELD, value: String(sub.attempt) }];
  if (sub.subResults?.length) {
    body.resultGroupType = groupType(sub.resultGroupType ?? 'Generic');
    body.subResults = sub.subResults.map((s, i) => toTestSubResult(s, i + 1));
  }
  return body;
}

/** A result as `TestCaseResult` for "Results - Add": rows or attempts as its sub-results, a flaky one marked. */
export function toTestCaseResult(result: TestResult, format: ResultFormat): TestCaseResult {
  const body: TestCaseResult = {
    testCaseTitle: result.title,
    automatedTestName: result.fullName,
    automatedTestType: FORMAT_LABELS[format],
    outcome: result.outcome,
    state: 'Completed',
  };
  if (result.storage) body.automatedTestStorage = result.storage;
  if (result.durationMs !== undefined) body.durationInMs = result.durationMs;
  if (result.startedDate) body.startedDate = new Date(result.startedDate);
  if (result.completedDate) body.completedDate = new Date(result.completedDate);
  if (result.computerName) body.computerName = result.computerName;
  if (result.errorMessage) body.errorMessage = result.errorMessage;
  if (result.stackTrace) body.stackTrace = result.stackTrace;
  if (result.subResults?.length) {
    body.resultGroupType = groupType(result.resultGroupType ?? 'Generic');
    body.subResults = result.subResults.map((s, i) => toTestSubResult(s, i + 1));
  }
  if (result.flaky) {
    const attempts = result.subResults?.length ?? 0;
    const failed = result.subResults?.filter((s) => outcomeClass(s.outcome) === 'failed').length ?? 0;
    const fields: CustomTestField[] = [{ fieldName: FLAKY_FIELD, value: 'true' }];
    body.customFields = fields;
    body.comment = `Flaky: failed ${failed} of ${attempts} attempts, passed on a rerun.`.slice(0, MAX_COMMENT_CHARS);
  }
  return body;
}

function node(n: PipelineNode | undefined): { name?: string; attempt?: number } {
  if (!n) return {};
  return { name: n.name.slice(0, MAX_PIPELINE_NAME_CHARS), attempt: n.attempt };
}

/**
 * The run's `pipelineReference`: the build, and the stage, phase and job it ran in with their attempts, as the agent
 * sends it for PublishTestResults@2 (TestDataPublisher.CreateTestRunContext), plus the definition id.
 */
export function pipelineReferenceOf(origin: RunOrigin, buildId: number): PipelineReference {
  const reference: PipelineReference = { pipelineId: buildId };
  if (origin.definitionId !== undefined) reference.pipelineDefinitionId = origin.definitionId;
  const stage = node(origin.stage);
  const phase = node(origin.phase);
  const job = node(origin.job);
  if (stage.name) reference.stageReference = { stageName: stage.name, attempt: stage.attempt };
  if (phase.name) reference.phaseReference = { phaseName: phase.name, attempt: phase.attempt };
  if (job.name) reference.jobReference = { jobName: job.name, attempt: job.attempt };
  return reference;
}
