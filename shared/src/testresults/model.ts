/** The result-file formats we read. `nunit2`/`nunit3` and `xunit2` are told apart by their root element. */
export type ResultFormat = 'junit' | 'trx' | 'nunit2' | 'nunit3' | 'xunit2' | 'ctest';

/**
 * Which rules decide what is a result and what its outcome is (shared/src/testresults/README.md, "Two rule sets"):
 * `agent` are the Azure Pipelines agent's public readers exactly (publishMode agent: the task's outputs must say what
 * the agent publishes); `api` are the same with the deviations that never hide a failure, never invent a pass and
 * never drop a test (publishMode api).
 */
export type RuleSet = 'api' | 'agent';

/** What a user can ask for (`testResultsFormat`): `auto` detects the format from each file's root element. */
export type FormatChoice = 'auto' | 'junit' | 'vstest' | 'nunit' | 'xunit' | 'ctest';

/**
 * Azure DevOps test outcomes (`TestOutcome` in azure-devops-node-api's TestInterfaces) that our readers produce.
 * Which format value maps to which is in README.md beside this file.
 */
export type TestOutcome =
  'Passed' | 'Failed' | 'Error' | 'Timeout' | 'Aborted' | 'NotExecuted' | 'Inconclusive' | 'NotApplicable' | 'Warning';

/** The four buckets every count (and the task's outputs) uses. */
export type OutcomeClass = 'passed' | 'failed' | 'skipped' | 'other';

export function outcomeClass(outcome: TestOutcome): OutcomeClass {
  switch (outcome) {
    case 'Passed':
      return 'passed';
    case 'Failed':
    case 'Error':
    case 'Timeout':
    case 'Aborted':
      return 'failed';
    case 'NotExecuted':
      return 'skipped';
    default:
      return 'other';
  }
}

/** A file to attach, as the result file names it, with the places it may be on disk (first existing wins). */
export interface AttachmentRef {
  /** The name as written in the result file. */
  name: string;
  /** Absolute candidate paths, most likely first. */
  candidates: string[];
}

/**
 * How a result's sub-results relate to it (`ResultGroupType` in azure-devops-node-api's TestInterfaces): data rows
 * of one test, attempts of a rerun test, steps of an ordered test, or any other grouping.
 */
export type ResultGroupType = 'DataDriven' | 'Rerun' | 'OrderedTest' | 'Generic';

/**
 * A row, attempt or step beneath a result (`TestSubResult`). It is not counted: the result above it is. At most
 * MAX_SUB_RESULT_LEVELS deep and MAX_SUB_RESULTS_PER_LEVEL per level, the service's limits.
 */
export interface SubResult {
  displayName: string;
  outcome: TestOutcome;
  durationMs?: number;
  startedDate?: string;
  completedDate?: string;
  computerName?: string;
  errorMessage?: string;
  stackTrace?: string;
  /** Console output of a failed row or attempt (attached to the sub-result). */
  stdout?: string;
  stderr?: string;
  /** Set on rerun attempts: 1 for the first run. */
  attempt?: number;
  resultGroupType?: ResultGroupType;
  subResults?: SubResult[];
}

/** The service keeps sub-results this many levels deep (TestSubResultMaxHierarchyLevel). */
export const MAX_SUB_RESULT_LEVELS = 3;
/** … and this many per level (TestSubResultMaxSubResultPerLevel); the agent cuts there too. */
export const MAX_SUB_RESULTS_PER_LEVEL = 1000;

/** One test result, whatever format it came from. */
export interface TestResult {
  /** The title people read (`testCaseTitle`). */
  title: string;
  /** Fully qualified name (`automatedTestName`), e.g. `com.example.FooTest.bar`. */
  fullName: string;
  /** Container of the test (`automatedTestStorage`): class, assembly or file. */
  storage?: string;
  outcome: TestOutcome;
  durationMs?: number;
  startedDate?: string;
  completedDate?: string;
  computerName?: string;
  errorMessage?: string;
  stackTrace?: string;
  stdout?: string;
  stderr?: string;
  attachments?: AttachmentRef[];
  /** Rows, attempts or steps beneath this result, and how they relate to it. */
  resultGroupType?: ResultGroupType;
  subResults?: SubResult[];
  /** Failed on an attempt, then passed on a rerun (an explicit rerun marker in the file; api rules only). */
  flaky?: boolean;
  /**
   * TRX (api rules): `testId` and `testName`, which a rerun of the same test repeats with another `executionId`.
   * Used to merge attempts into one result; not published.
   */
  rerunKey?: string;
}

/** Run-level facts a file carries besides its results. */
export interface RunInfo {
  format: ResultFormat;
  /** The run's own name where the format has one (TRX `TestRun/@name`). */
  name?: string;
  startedDate?: string;
  completedDate?: string;
  /** Files the run itself points to (TRX collector attachments, result files). */
  attachments: AttachmentRef[];
  /** Why the rules read no result from a file that parsed (it is warned about, naming the file). */
  unread?: string;
}

export interface ResultCounts {
  total: number;
  passed: number;
  failed: number;
  skipped: number;
  other: number;
}

export function emptyCounts(): ResultCounts {
  return { total: 0, passed: 0, failed: 0, skipped: 0, other: 0 };
}

export function countResult(counts: ResultCounts, outcome: TestOutcome): void {
  counts.total++;
  counts[outcomeClass(outcome)]++;
}

export function addCounts(into: ResultCounts, from: ResultCounts): void {
  into.total += from.total;
  into.passed += from.passed;
  into.failed += from.failed;
  into.skipped += from.skipped;
  into.other += from.other;
}

/** Human names of the formats, as Azure DevOps and the task's pickList spell them. */
export const FORMAT_LABELS: Record<ResultFormat, string> = {
  junit: 'JUnit',
  trx: 'VSTest',
  nunit2: 'NUnit',
  nunit3: 'NUnit',
  xunit2: 'XUnit',
  ctest: 'CTest',
};

/** Which formats a `testResultsFormat` choice accepts. */
export function formatsFor(choice: FormatChoice): ResultFormat[] | undefined {
  switch (choice) {
    case 'auto':
      return undefined;
    case 'junit':
      return ['junit'];
    case 'vstest':
      return ['trx'];
    case 'nunit':
      return ['nunit2', 'nunit3'];
    case 'xunit':
      return ['xunit2'];
    case 'ctest':
      return ['ctest'];
  }
}
