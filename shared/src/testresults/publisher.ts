import type { ResultCounts, ResultFormat, TestResult } from './model';

/** A stage, phase or job of the pipeline: its name (as the agent's `System.StageName` …), display name and attempt. */
export interface PipelineNode {
  name: string;
  displayName?: string;
  /** 1 for the first run; a retried stage or job counts up (`System.StageAttempt` …). */
  attempt?: number;
}

/**
 * Where a run comes from: the build and the job's place in the pipeline, from the job's `System.*` variables as
 * the agent sets them. In api mode it becomes the run's `pipelineReference`, so runs of parallel jobs and stages
 * are told apart in the Tests tab; it also names the run when no title is given.
 */
export interface RunOrigin {
  /** `Build.BuildId`. */
  buildId?: number;
  /** `System.DefinitionId`. */
  definitionId?: number;
  stage?: PipelineNode;
  phase?: PipelineNode;
  job?: PipelineNode;
}

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
  origin?: RunOrigin;
}

/** `attachmentType` values of Azure DevOps (TestAttachmentRequestModel) that we use. */
export type AttachmentKind = 'GeneralAttachment' | 'ConsoleLog' | 'CodeCoverage';

export interface AttachmentUpload {
  fileName: string;
  bytes: Buffer;
  kind: AttachmentKind;
  comment?: string;
}

/** A sub-result as the service stored it: its id, and those of its own sub-results, in the order sent. */
export interface PostedSubResult {
  id: number;
  subResults?: PostedSubResult[];
}

/** A result as the service stored it. */
export interface PostedResult {
  id: number;
  subResults?: PostedSubResult[];
}

/** One open test run. */
export interface TestRunSession {
  /** The run's id, once the service assigned one (api mode). */
  readonly runId?: number;
  /**
   * Adds results (at most 1000), in order. Returns their ids in the run (and their sub-results'), in the same
   * order, when the publisher assigns ids; attachments need them. Several calls may be in flight at once.
   */
  addResults(results: TestResult[], format: ResultFormat): Promise<PostedResult[] | undefined>;
  addRunAttachment(upload: AttachmentUpload): Promise<void>;
  /** Attaches to a result, or to one of its sub-results when `subResultId` is given. */
  addResultAttachment(resultId: number, upload: AttachmentUpload, subResultId?: number): Promise<void>;
  /** Closes the run as completed: only once every result and attachment was posted. */
  complete(counts: ResultCounts): Promise<void>;
  /** Closes the run as aborted with the reason, after an error or a cancel; best effort. */
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
