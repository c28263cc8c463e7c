import type { ResultCounts, ResultFormat, TestResult } from './model';

/** What a run is made of, decided by the core before the publisher sees any result. */
export interface TestRunSpec {
  title: string;
  /** The formats of the files in this run (one, unless files of several formats are merged). */
  formats: ResultFormat[];
  /** The files published into this run, all known to parse. */
  files: string[];
  /** One run for several files (`mergeTestResults`). */
  merged: boolean;
  buildPlatform?: string;
  buildConfiguration?: string;
  startedDate?: string;
  publishAttachments: boolean;
}

/** `attachmentType` values of Azure DevOps (TestAttachmentRequestModel) that we use. */
export type AttachmentKind = 'GeneralAttachment' | 'ConsoleLog' | 'CodeCoverage';

export interface AttachmentUpload {
  fileName: string;
  bytes: Buffer;
  kind: AttachmentKind;
  comment?: string;
}

/** One open test run. */
export interface TestRunSession {
  /** The run's id, once the service assigned one (api mode). */
  readonly runId?: number;
  /**
   * Adds results (at most 1000), in order. Returns their ids in the run, in the same order, when the publisher
   * assigns ids; result attachments need them.
   */
  addResults(results: TestResult[], format: ResultFormat): Promise<number[] | undefined>;
  addRunAttachment(upload: AttachmentUpload): Promise<void>;
  addResultAttachment(resultId: number, upload: AttachmentUpload): Promise<void>;
  /** Closes the run as completed. */
  complete(counts: ResultCounts): Promise<void>;
  /** Closes the run as aborted after an error; best effort. */
  abort(reason: string): Promise<void>;
}

/**
 * Where results go. `api` sends them through the Azure DevOps REST API; `agent` hands the files to the agent
 * (`results.publish`), which reads them itself — then `readsFiles` is true and the core sends no results.
 */
export interface TestRunPublisher {
  readonly mode: 'api' | 'agent';
  readonly readsFiles: boolean;
  /** A reason this publisher cannot take the file (checked before any run starts), or undefined. */
  refuses?(file: string): string | undefined;
  startRun(spec: TestRunSpec): Promise<TestRunSession>;
}
