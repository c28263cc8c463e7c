import type { IRequestOptions } from 'azure-devops-node-api/interfaces/common/VsoBaseInterfaces';
import type { ITestApi } from 'azure-devops-node-api/TestApi';
import type { RunCreateModel, TestCaseResult, TestSubResult } from 'azure-devops-node-api/interfaces/TestInterfaces';
import { describeConnectionFailure, ProxyError } from '../net/errors';
import type { NetworkOptions } from '../net/network';
import { proxyFor } from '../net/route';
import { pipelineReferenceOf, toTestCaseResult } from './api-model';
import { MAX_BATCH_RESULTS } from './parse';
import type { AttachmentUpload, PostedResult, PostedSubResult, TestRunPublisher, TestRunSession, TestRunSpec } from './publisher';

export { toTestCaseResult } from './api-model';

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

/**
 * The SDK's request options for a client of `url`: the proxy our routing picks for it and the certificates.
 * azure-devops-node-api reads neither by itself when its clients are built directly; typed-rest-client under it would
 * fall back to HTTPS_PROXY on its own, so "direct" is said explicitly with an empty proxyUrl.
 */
function sdkRequestOptions(url: string, network: NetworkOptions | undefined): IRequestOptions {
  const options: IRequestOptions = { allowRetries: true, maxRetries: SDK_MAX_RETRIES, socketTimeout: SDK_SOCKET_TIMEOUT_MS };
  const proxy = proxyFor(new URL(url), network);
  options.proxy = proxy ? { proxyUrl: proxy.url, proxyUsername: proxy.username, proxyPassword: proxy.password } : { proxyUrl: '' };
  const tls = network?.tls;
  if (tls?.rejectUnauthorized === false) options.ignoreSslError = true;
  if (tls?.caFile || tls?.certFile)
    options.cert = { caFile: tls.caFile, certFile: tls.certFile, keyFile: tls.keyFile, passphrase: tls.passphrase };
  return options;
}

/**
 * A connection failure of the SDK in one line naming the setting to fix. typed-rest-client tunnels through the proxy
 * with the `tunnel` package, whose errors carry the proxy's answer only in their text.
 */
function connectionFailure(error: unknown, url: string, network: NetworkOptions | undefined): Error {
  const text = error instanceof Error ? error.message : String(error);
  const tunnel = /^tunneling socket could not be established, (?:statusCode=(\d+)|cause=(.*))$/.exec(text);
  // An answer from the service (statusCode) or anything but a socket error is not a connection failure.
  if ((error as { statusCode?: unknown }).statusCode !== undefined || (!tunnel && typeof (error as { code?: unknown }).code !== 'string'))
    return error as Error;
  const proxy = proxyFor(new URL(url), network);
  const cause =
    tunnel && proxy
      ? new ProxyError(proxy, new URL(url).host, tunnel[1] ? { status: Number(tunnel[1]) } : { cause: new Error(tunnel[2]) })
      : error;
  return new Error(describeConnectionFailure(cause, url, network).message, { cause: error });
}

/** `api` with every method's failure to connect described by `connectionFailure`. */
function describingFailures<T extends object>(api: T, url: string, network: NetworkOptions | undefined): T {
  return new Proxy(api, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result instanceof Promise
          ? result.catch((error: unknown) => Promise.reject(connectionFailure(error, url, network)))
          : result;
      };
    },
  });
}

/** Resource area of the Test API (WebApi.getTestApi looks it up under this id). */
const TEST_RESOURCE_AREA_ID = 'c2aa639c-3ccc-4740-b3b6-ce2a1e1d984e';

/**
 * The job's Test API client: `System.TeamFoundationCollectionUri` with the `SystemVssConnection` access token (an
 * OAuth bearer token); the caller registers the token as a secret first. It does what `WebApi.getTestApi` does —
 * find the Test resource area's URL, then open the client there — without loading `WebApi`, which pulls in every
 * API client of the SDK: that code stays in memory and V8 sizes the heap in proportion to what stays.
 * The token is not sent on redirects to another origin: each handler sends it only to the first host it serves,
 * so the location client and the Test client get one each. Both go out through `network` (proxy and certificates).
 */
export async function connectWithAccessToken(collectionUri: string, accessToken: string, network?: NetworkOptions): Promise<ITestApi> {
  // Loaded here: only publishMode 'api' talks to the REST API (build/bundle.mjs keeps the SDK in its own file).
  // require, not import(): the SDK's subpaths have no file extension, which Node's ESM resolution (tsx) refuses.
  /* eslint-disable @typescript-eslint/no-require-imports -- see above */
  const { BearerCredentialHandler } =
    require('azure-devops-node-api/handlers/bearertoken') as typeof import('azure-devops-node-api/handlers/bearertoken');
  const { LocationsApi } = require('azure-devops-node-api/LocationsApi') as typeof import('azure-devops-node-api/LocationsApi');
  const { TestApi } = require('azure-devops-node-api/TestApi') as typeof import('azure-devops-node-api/TestApi');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const handlers = () => [new BearerCredentialHandler(accessToken, false)];
  const locations = describingFailures(
    new LocationsApi(collectionUri, handlers(), sdkRequestOptions(collectionUri, network)),
    collectionUri,
    network,
  );
  const areas: unknown = await locations.getResourceAreas();
  let serverUrl = collectionUri;
  // On Azure DevOps Server the answer is {count: 0, value: null} and every area lives at the collection URL.
  if (Array.isArray(areas) && areas.length > 0) {
    const test = (areas as { id?: string; locationUrl?: string }[]).find((a) => a.id?.toLowerCase() === TEST_RESOURCE_AREA_ID);
    if (!test?.locationUrl) throw new Error(`the Test resource area is not offered by ${collectionUri}`);
    serverUrl = test.locationUrl;
  }
  return describingFailures(new TestApi(serverUrl, handlers(), sdkRequestOptions(serverUrl, network)), serverUrl, network);
}

/** The ids the service gave sub-results, in the order they were sent (a missing id is -1: nothing is attached). */
function postedSubResults(sent: TestSubResult[] | undefined, answered: TestSubResult[] | undefined): PostedSubResult[] | undefined {
  if (!sent?.length) return undefined;
  return sent.map((s, i) => {
    const a = answered?.[i];
    return { id: typeof a?.id === 'number' ? a.id : -1, subResults: postedSubResults(s.subResults, a?.subResults) };
  });
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
      const pipelineId = Number(options.buildId);
      if (Number.isSafeInteger(pipelineId) && pipelineId > 0) model.pipelineReference = pipelineReferenceOf(spec.origin ?? {}, pipelineId);
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
          const posted: PostedResult[] = [];
          for (let start = 0; start < results.length; start += MAX_BATCH_RESULTS) {
            const batch = results.slice(start, start + MAX_BATCH_RESULTS).map((r) => toTestCaseResult(r, format));
            let added: TestCaseResult[];
            try {
              added = await client.addTestResultsToTestRun(batch, project, runId);
            } catch (error) {
              throw failure(`adding ${batch.length} results to ${where}`, error);
            }
            if (!Array.isArray(added) || added.length !== batch.length) {
              throw new Error(
                `adding ${batch.length} results to ${where} failed: the service answered with ${Array.isArray(added) ? added.length : 'no'} results`,
              );
            }
            added.forEach((r, i) => posted.push({ id: r.id ?? -1, subResults: postedSubResults(batch[i].subResults, r.subResults) }));
          }
          return posted;
        },
        async addRunAttachment(u) {
          try {
            await client.createTestRunAttachment(upload(u), project, runId);
          } catch (error) {
            throw failure(`attaching '${u.fileName}' to ${where}`, error);
          }
        },
        async addResultAttachment(resultId, u, subResultId) {
          try {
            if (subResultId === undefined) await client.createTestResultAttachment(upload(u), project, runId, resultId);
            else await client.createTestSubResultAttachment(upload(u), project, runId, resultId, subResultId);
          } catch (error) {
            const target = subResultId === undefined ? `result ${resultId}` : `sub-result ${subResultId} of result ${resultId}`;
            throw failure(`attaching '${u.fileName}' to ${target} of ${where}`, error);
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
            .updateTestRun(
              { state: 'Aborted', errorMessage: reason.slice(0, 1000), completedDate: new Date().toISOString() },
              project,
              runId,
            )
            .catch(() => undefined);
        },
      };
    },
  };
}
