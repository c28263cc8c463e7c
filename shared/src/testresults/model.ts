/** The result-file formats we read. `nunit2`/`nunit3` and `xunit2` are told apart by their root element. */
export type ResultFormat = 'junit' | 'trx' | 'nunit2' | 'nunit3' | 'xunit2' | 'ctest';

/** What a user can ask for (`testResultsFormat`): `auto` detects the format from each file's root element. */
export type FormatChoice = 'auto' | 'junit' | 'vstest' | 'nunit' | 'xunit' | 'ctest';

/**
 * Azure DevOps test outcomes (`TestOutcome` in azure-devops-node-api's TestInterfaces) that our readers produce.
 * Which format value maps to which is in README.md beside this file.
 */
export type TestOutcome =
  | 'Passed'
  | 'Failed'
  | 'Error'
  | 'Timeout'
  | 'Aborted'
  | 'NotExecuted'
  | 'Inconclusive'
  | 'NotApplicable'
  | 'Warning';

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
