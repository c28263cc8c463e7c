// Test results: streaming readers for JUnit, TRX, NUnit 2/3, xUnit.net v2 and CTest; publishing to Azure DevOps
// (REST API or the agent's results.publish); the run summary. See README.md for the outcome mapping and limits.
export * from './model';
export { XmlError, XmlTokenizer, DEFAULT_XML_LIMITS, type XmlLimits, type XmlHandler, type XmlAttributes } from './xml';
export { DEFAULT_RESULT_LIMITS, type ResultLimits, type TrxDefinition } from './reader';
export { RerunCounter, MAX_RERUN_KEYS } from './reruns';
export {
  readResultFile,
  scanResultFile,
  formatOfRoot,
  ResultFileError,
  MAX_BATCH_RESULTS,
  DEFAULT_BATCH_RESULTS,
  MAX_BATCH_BYTES,
  type ParsedFile,
  type ReadResultsOptions,
} from './parse';
export { SummaryCollector, summaryMarkdown, summaryTable, flakyLine, type FileSummary } from './summary';
export {
  loadAttachment,
  consoleLog,
  headAndTail,
  MAX_ATTACHMENT_BYTES,
  MAX_ATTACHMENTS_PER_RUN,
  MAX_CONSOLE_LOGS_PER_RUN,
  MAX_CONSOLE_LOG_BYTES,
  MAX_CONSOLE_BYTES_PER_RUN,
} from './attachments';
export type {
  TestRunPublisher,
  TestRunSession,
  TestRunSpec,
  AttachmentUpload,
  AttachmentKind,
  RunOrigin,
  PipelineNode,
  PostedResult,
  PostedSubResult,
} from './publisher';
export { createApiPublisher, connectWithAccessToken, toTestCaseResult, type ApiPublisherOptions } from './api';
export { pipelineReferenceOf } from './api-model';
export { MAX_BATCHES_IN_FLIGHT } from './post';
export { createAgentPublisher, resultsPublishCommand, TEST_RUN_SYSTEM, type LoggingCommand } from './agent';
export { publishTestResults, type PublishTestResultsOptions, type PublishTestResultsResult, type PublishedFile } from './publish';
