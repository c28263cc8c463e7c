import { BearerCredentialHandler } from 'azure-devops-node-api/handlers/bearertoken';
import type { IRequestOptions } from 'azure-devops-node-api/interfaces/common/VsoBaseInterfaces';
import { LocationsApi } from 'azure-devops-node-api/LocationsApi';
import { TestApi, type ITestApi } from 'azure-devops-node-api/TestApi';
import type { RunCreateModel, TestCaseResult } from 'azure-devops-node-api/interfaces/TestInterfaces';
import { FORMAT_LABELS, type ResultFormat, type TestResult } from './model';
import { MAX_BATCH_RESULTS } from './parse';
import type { AttachmentUpload, TestRunPublisher, TestRunSession, TestRunSpec } from './publisher';

/** Retries for the SDK's idempotent requests (GET/OPTIONS on 502/503/504); POSTs are never repeated. */
const SDK_MAX_RETRIES = 3;
/** A request that hangs longer than this fails rather than stalling the job. */
const SDK_SOCKET_TIMEOUT_MS = 120_000;

export interface ApiPublisherOptions {
  /**
   * Opens the Test API client, once, on the first run: the job's is `connectWithAccessToken`; a caller holding a
   * `WebApi` passes `() => webApi.getTestApi()`.
   */
  connect: () => ITestApi | Promise<ITestApi>;
  /** `System.TeamProject`. */
  project: string;
  /** `Build.BuildId`: runs are linked to this build. */
  buildId: string | number;
  /** `Build.BuildUri`, e.g. `vstfs:///Build/Build/42`. */
  buildUri?: string;
}

/** Resource area of the Test API (WebApi.getTestApi looks it up under this id). */
const TEST_RESOURCE_AREA_ID = 'c2aa639c-3ccc-4740-b3b6-ce2a1e1d984e';

/**
 * The job's Test API client: `System.TeamFoundationCollectionUri` with the `SystemVssConnection` access token (an
 * OAuth bearer token); the caller registers the token as a secret first. It does what `WebApi.getTestApi` does —
 * find the Test resource area's URL, then open the client there — without loading `WebApi`, which pulls in every
 * API client of the SDK: that code stays in memory and V8 sizes the heap in proportion to what stays.
 * The token is not sent on redirects to another origin: each handler sends it only to the first host it serves,
 * so the location client and the Test client get one each.
 */
export async function connectWithAccessToken(collectionUri: string, accessToken: string): Promise<ITestApi> {
  const handlers = () => [new BearerCredentialHandler(accessToken, false)];
  const options: IRequestOptions = { allowRetries: true, maxRetries: SDK_MAX_RETRIES, socketTimeout: SDK_SOCKET_TIMEOUT_MS };
  const areas: unknown = await new LocationsApi(collectionUri, handlers(), options).getResourceAreas();
  let serverUrl = collectionUri;
  // On Azure DevOps Server the answer is {count: 0, value: null} and every area lives at the collection URL.
  if (Array.isArray(areas) && areas.length > 0) {
    const test = (areas as { id?: string; locationUrl?: string }[]).find((a) => a.id?.toLowerCase() === TEST_RESOURCE_AREA_ID);
    if (!test?.locationUrl) throw new Error(`the Test resource area is not offered by ${collectionUri}`);
    serverUrl = test.locationUrl;
  }
  return new TestApi(serverUrl, handlers(), options);
}

/** A result as `TestCaseResult` (azure-devops-node-api TestInterfaces) for "Results - Add". */
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
  return body;
}

/** The SDK's errors carry `statusCode`; say which call failed and why, in one line. */
function failure(what: string, error: unknown): Error {
  const status = (error as { statusCode?: number }).statusCode;
  const message = (error instanceof Error ? error.message : String(error)).split(/\r?\n/)[0];
  return new Error(`${what} failed${status ? ` (HTTP ${status})` : ''}: ${message}`);
}

/** Publishes through the Test REST API: create the run linked to the build, add results, attach, complete. */
export function createApiPublisher(options: ApiPublisherOptions): TestRunPublisher {
  let api: Promise<ITestApi> | undefined;
  const testApi = () =>
    (api ??= Promise.resolve(options.connect()).catch((error) => {
      api = undefined;
      throw failure('connecting to Azure DevOps', error);
    }));
  const project = options.project;

  return {
    mode: 'api',
    readsFiles: false,
    async startRun(spec: TestRunSpec): Promise<TestRunSession> {
      const client = await testApi();
      const model: RunCreateModel = {
        name: spec.title,
        automated: true,
        build: { id: String(options.buildId) },
        state: 'InProgress',
        startDate: spec.startedDate ?? new Date().toISOString(),
        // Required by RunCreateModel; an automated build run belongs to no plan and no configuration.
        configurationIds: [],
        plan: { id: '0' },
      };
      if (options.buildUri) model.build!.url = options.buildUri;
      if (spec.buildPlatform) model.buildPlatform = spec.buildPlatform;
      if (spec.buildConfiguration) model.buildFlavor = spec.buildConfiguration;
      let runId: number;
      try {
        const run = await client.createTestRun(model, project);
        // typed-rest-client turns a 404 into an empty result rather than an error.
        if (typeof run?.id !== 'number') throw new Error(`Azure DevOps returned no run (is project '${project}' right?)`);
        runId = run.id;
      } catch (error) {
        throw failure(`creating test run '${spec.title}'`, error);
      }
      const where = `test run ${runId} ('${spec.title}')`;

      const upload = (u: AttachmentUpload) => ({
        attachmentType: u.kind,
        fileName: u.fileName,
        comment: u.comment,
        stream: u.bytes.toString('base64'),
      });

      return {
        runId,
        async addResults(results, format) {
          const ids: number[] = [];
          for (let start = 0; start < results.length; start += MAX_BATCH_RESULTS) {
            const batch = results.slice(start, start + MAX_BATCH_RESULTS).map((r) => toTestCaseResult(r, format));
            let added: TestCaseResult[];
            try {
              added = await client.addTestResultsToTestRun(batch, project, runId);
            } catch (error) {
              throw failure(`adding ${batch.length} results to ${where}`, error);
            }
            if (!Array.isArray(added) || added.length !== batch.length) {
              throw new Error(`adding ${batch.length} results to ${where} failed: the service answered with ${Array.isArray(added) ? added.length : 'no'} results`);
            }
            for (const r of added) ids.push(r.id ?? -1);
          }
          return ids;
        },
        async addRunAttachment(u) {
          try {
            await client.createTestRunAttachment(upload(u), project, runId);
          } catch (error) {
            throw failure(`attaching '${u.fileName}' to ${where}`, error);
          }
        },
        async addResultAttachment(resultId, u) {
          try {
            await client.createTestResultAttachment(upload(u), project, runId, resultId);
          } catch (error) {
            throw failure(`attaching '${u.fileName}' to result ${resultId} of ${where}`, error);
          }
        },
        async complete() {
          try {
            await client.updateTestRun({ state: 'Completed', completedDate: new Date().toISOString() }, project, runId);
          } catch (error) {
            throw failure(`completing ${where}`, error);
          }
        },
        async abort(reason) {
          await client
            .updateTestRun({ state: 'Aborted', errorMessage: reason.slice(0, 1000), completedDate: new Date().toISOString() }, project, runId)
            .catch(() => undefined);
        },
      };
    },
  };
}
