// A local contract server for the Azure DevOps Test REST API, as azure-devops-node-api 15 uses it. Azure DevOps is
// unreachable from tests; this server answers the same routes and checks every request against the contract:
//
// Routes and api-versions — the REST docs (api-version 7.1; the SDK negotiates 7.2-preview.N against the
// maxVersion/resourceVersion the OPTIONS answer declares, see VsoClient.autoNegotiateApiVersion):
//   GET   {collection}/_apis/resourceAreas                                  Resource Areas - List
//         https://learn.microsoft.com/rest/api/azure/devops/locations/resource-areas/list?view=azure-devops-rest-7.1
//   POST  {project}/_apis/test/runs                                         Runs - Create
//         https://learn.microsoft.com/rest/api/azure/devops/test/runs/create?view=azure-devops-rest-7.1
//   PATCH {project}/_apis/test/runs/{runId}                                 Runs - Update
//         https://learn.microsoft.com/rest/api/azure/devops/test/runs/update?view=azure-devops-rest-7.1
//   POST  {project}/_apis/test/Runs/{runId}/results                         Results - Add
//         https://learn.microsoft.com/rest/api/azure/devops/test/results/add?view=azure-devops-rest-7.1
//   POST  {project}/_apis/test/Runs/{runId}/attachments                     Attachments - Create Test Run Attachment
//         https://learn.microsoft.com/rest/api/azure/devops/test/attachments/create-test-run-attachment?view=azure-devops-rest-7.1
//   POST  {project}/_apis/test/Runs/{runId}/Results/{testCaseResultId}/attachments
//         Attachments - Create Test Result Attachment (same docs folder)
//   POST  {project}/_apis/test/Runs/{runId}/Results/{testCaseResultId}/attachments?testSubResultId={id}
//         Attachments - Create Test Sub Result Attachment
//         https://learn.microsoft.com/rest/api/azure/devops/test/attachments/create-test-sub-result-attachment?view=azure-devops-rest-7.1
// What the bodies carry beyond the typings, from the same docs: a result's `subResults` (TestSubResult) with the
// `resultGroupType` that says what they are (ResultGroupType: Rerun, DataDriven, OrderedTest, Generic), at most
// 1000 a level and 3 levels deep (the service's TestSubResultMaxSubResultPerLevel/MaxHierarchyLevel); the custom
// fields the service takes without registration (CustomTestField: AttemptId int, IsTestResultFlaky bool); a run's
// `pipelineReference` (PipelineReference: pipelineId, stage/phase/job names of at most 256 characters, attempts).
// Location ids — the REST docs do not print them; they are the ones the SDK asks for (LocationsApi.getResourceAreas,
// TestApi.createTestRun/updateTestRun/addTestResultsToTestRun/createTestRunAttachment/createTestResultAttachment)
// and the OPTIONS discovery (`OPTIONS {collection}/_apis/{area}`, VsoClient.beginGetAreaLocations) returns them.
// Body checks — derived at start-up from node_modules/azure-devops-node-api/interfaces/TestInterfaces.d.ts:
// no property outside the interface, every required property present, JSON types as declared, enum values by name.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { repoRoot } from './env';

export const TEST_AREA_ID = 'c2aa639c-3ccc-4740-b3b6-ce2a1e1d984e';
export const LOCATION_IDS = {
  resourceAreas: 'e81700f7-3be2-46de-8624-2eb35882fcaa',
  runs: 'cadb3810-d47d-4a3c-a234-fe5f3be50138',
  results: '4637d869-3a76-4468-8057-0bb02aa385cf',
  runAttachments: '4f004af4-a507-489c-9b13-cb62060beb11',
  resultAttachments: '2bffebe9-2f0f-4639-9af8-56129e9fed2d',
} as const;

/** Per the REST docs: at most 1000 results per "Results - Add". */
const MAX_RESULTS_PER_ADD = 1000;
/** Sub-results: per level and levels deep (TestSubResultMaxSubResultPerLevel, TestSubResultMaxHierarchyLevel). */
const MAX_SUB_RESULTS_PER_LEVEL = 1000;
const MAX_SUB_RESULT_LEVELS = 3;
/** PipelineReference: stage, phase and job names. */
const MAX_PIPELINE_NAME_CHARS = 256;
/** CustomTestField keys allowed on results without registration, with the form of their value. */
const CUSTOM_FIELDS: Record<string, RegExp> = { IsTestResultFlaky: /^(true|false)$/i, AttemptId: /^-?\d{1,10}$/ };
const MAX_BODY_BYTES = 32 * 1024 * 1024;

interface Location {
  id: string;
  area: string;
  resourceName: string;
  routeTemplate: string;
  resourceVersion: number;
  minVersion: string;
  maxVersion: string;
  releasedVersion: string;
}

const LOCATIONS: Record<string, Location[]> = {
  location: [
    {
      id: LOCATION_IDS.resourceAreas,
      area: 'Location',
      resourceName: 'ResourceAreas',
      routeTemplate: '_apis/resourceAreas/{areaId}',
      resourceVersion: 1,
      minVersion: '3.2',
      maxVersion: '7.2',
      releasedVersion: '0.0',
    },
  ],
  test: [
    {
      id: LOCATION_IDS.runs,
      area: 'Test',
      resourceName: 'Runs',
      routeTemplate: '{project}/_apis/test/runs/{runId}',
      resourceVersion: 3,
      minVersion: '1.0',
      maxVersion: '7.2',
      releasedVersion: '7.1',
    },
    {
      id: LOCATION_IDS.results,
      area: 'Test',
      resourceName: 'Results',
      routeTemplate: '{project}/_apis/test/Runs/{runId}/results/{testCaseResultId}',
      resourceVersion: 6,
      minVersion: '1.0',
      maxVersion: '7.2',
      releasedVersion: '7.1',
    },
    {
      id: LOCATION_IDS.runAttachments,
      area: 'Test',
      resourceName: 'Attachments',
      routeTemplate: '{project}/_apis/test/Runs/{runId}/attachments/{attachmentId}',
      resourceVersion: 1,
      minVersion: '2.0',
      maxVersion: '7.2',
      releasedVersion: '0.0',
    },
    {
      id: LOCATION_IDS.resultAttachments,
      area: 'Test',
      resourceName: 'Attachments',
      routeTemplate: '{project}/_apis/test/Runs/{runId}/Results/{testCaseResultId}/attachments/{attachmentId}',
      resourceVersion: 1,
      minVersion: '2.0',
      maxVersion: '7.2',
      releasedVersion: '0.0',
    },
  ],
};

// ---- the typings, read as the contract ----------------------------------------------------------------------

interface Property {
  type: string;
  optional: boolean;
}
interface Typings {
  interfaces: Map<string, Map<string, Property>>;
  enums: Map<string, Set<string>>;
}

let typingsCache: Typings | undefined;

export function testTypings(): Typings {
  if (typingsCache) return typingsCache;
  const file = path.join(repoRoot, 'node_modules', 'azure-devops-node-api', 'interfaces', 'TestInterfaces.d.ts');
  const text = fs.readFileSync(file, 'utf8');
  const interfaces = new Map<string, Map<string, Property>>();
  for (const m of text.matchAll(/export interface (\w+)(?: extends [^{]+)? \{\n([\s\S]*?)\n\}/g)) {
    const props = new Map<string, Property>();
    for (const p of m[2].matchAll(/^ {4}(\w+)(\?)?: ([^;]+);$/gm)) props.set(p[1], { type: p[3].trim(), optional: !!p[2] });
    interfaces.set(m[1], props);
  }
  const enums = new Map<string, Set<string>>();
  for (const m of text.matchAll(/export declare enum (\w+) \{\n([\s\S]*?)\n\}/g)) {
    enums.set(m[1], new Set([...m[2].matchAll(/^ {4}(\w+) = /gm)].map((v) => v[1])));
  }
  typingsCache = { interfaces, enums };
  return typingsCache;
}

/** Problems of `value` against interface `name` from the typings (JSON view: Date is an ISO string). */
export function checkAgainstTypings(value: unknown, name: string, where = name): string[] {
  const { interfaces } = testTypings();
  const props = interfaces.get(name);
  if (!props) return [`${where}: no interface ${name} in the typings`];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${where}: expected an object`];
  const problems: string[] = [];
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const prop = props.get(key);
    if (!prop) problems.push(`${where}.${key}: not a property of ${name}`);
    else if (record[key] !== undefined && record[key] !== null) problems.push(...checkType(record[key], prop.type, `${where}.${key}`));
  }
  for (const [key, prop] of props) {
    if (!prop.optional && !(key in record)) problems.push(`${where}.${key}: required by ${name} but missing`);
  }
  return problems;
}

function checkType(value: unknown, type: string, where: string): string[] {
  const { interfaces, enums } = testTypings();
  if (type.endsWith('[]')) {
    if (!Array.isArray(value)) return [`${where}: expected an array (${type})`];
    return value.flatMap((v, i) => checkType(v, type.slice(0, -2), `${where}[${i}]`));
  }
  switch (type) {
    case 'string':
      return typeof value === 'string' ? [] : [`${where}: expected a string`];
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? [] : [`${where}: expected a number`];
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${where}: expected a boolean`];
    case 'Date':
      return typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? [] : [`${where}: expected a date`];
    case 'any':
      return [];
  }
  if (enums.has(type)) return typeof value === 'number' || typeof value === 'string' ? [] : [`${where}: expected ${type}`];
  if (interfaces.has(type)) return checkAgainstTypings(value, type, where);
  return typeof value === 'object' ? [] : [`${where}: expected ${type}`];
}

function enumNames(name: string): Set<string> {
  return testTypings().enums.get(name) ?? new Set();
}

// ---- server state -----------------------------------------------------------------------------------------

export interface ContractAttachment {
  fileName: string;
  attachmentType?: string;
  comment?: string;
  size: number;
  sha256: string;
  /** Kept for attachments up to 64 KiB. */
  content?: Buffer;
  resultId?: number;
  subResultId?: number;
}

export interface ContractRun {
  id: number;
  created: Record<string, any>;
  state: string;
  updates: Record<string, any>[];
  resultCount: number;
  outcomes: Record<string, number>;
  /** Sizes of each "Results - Add" call, in order. */
  batches: number[];
  /** The first `keepResults` result bodies, as received. */
  results: Record<string, any>[];
  /** Ids given to each result, in order, for the kept results. */
  resultIds: number[];
  /** Sub-results stored, all levels. */
  subResultCount: number;
  attachments: ContractAttachment[];
}

export interface AdoContractServer {
  /** Collection URL (`System.TeamFoundationCollectionUri`). */
  url: string;
  token: string;
  project: string;
  runs: Map<number, ContractRun>;
  /** Every request: method, path, api-version. */
  requests: { method: string; path: string; apiVersion?: string; status: number }[];
  /** Contract violations seen (each also answered 400). Tests assert this is empty. */
  violations: string[];
  /** Every request body as text, up to 1 MiB each (for leak checks). */
  bodies: string[];
  /** The most "Results - Add" requests that were open at once (a publisher that sends batches concurrently). */
  readonly maxConcurrentResultAdds: number;
  /** "Results - Add" requests held unanswered (stallResultsAfter). */
  readonly stalled: number;
  close(): Promise<void>;
}

export interface ContractServerOptions {
  project?: string;
  token?: string;
  /** Result bodies kept per run (the rest are checked and counted only). */
  keepResults?: number;
  /** Keep request bodies for leak checks (default true; off for the large test). */
  keepBodies?: boolean;
  /** Answer 503 to every "Results - Add" after this many succeeded (a service fault mid-run). */
  failResultsAfter?: number;
  /** Never answer a "Results - Add" after this many succeeded (a service that hangs; for cancels mid-publish). */
  stallResultsAfter?: number;
  /** Answer each "Results - Add" this much later, so that concurrent calls overlap observably. */
  resultsLatencyMs?: number;
  /** Host name in the URLs it hands out (default 127.0.0.1), e.g. a name only a test proxy resolves. */
  host?: string;
  /** Serve HTTPS with this certificate and key (PEM text). */
  tls?: { cert: string; key: string };
}

/** Starts the server on a random loopback port. */
export async function startAdoContractServer(options: ContractServerOptions = {}): Promise<AdoContractServer> {
  const project = options.project ?? 'Outer Loop';
  const token = options.token ?? crypto.randomBytes(24).toString('base64url');
  const keepResults = options.keepResults ?? 10_000;
  const keepBodies = options.keepBodies ?? true;
  const collection = 'outerloop';
  const runs = new Map<number, ContractRun>();
  const requests: AdoContractServer['requests'] = [];
  const violations: string[] = [];
  const bodies: string[] = [];
  let nextRunId = 1;
  let nextResultId = 100000;
  let nextAttachmentId = 1;
  let nextSubResultId = 1;
  let resultAdds = 0;
  let openResultAdds = 0;
  let maxConcurrentResultAdds = 0;
  let stalled = 0;
  /** Sub-result ids of each result, for sub-result attachments. */
  const subResultsOf = new Map<number, Set<number>>();

  const server = options.tls ? https.createServer(options.tls) : http.createServer();
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const isResultAdd =
      req.method === 'POST' && /\/_apis\/test\/runs\/\d+\/results$/i.test(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (isResultAdd) {
      openResultAdds++;
      maxConcurrentResultAdds = Math.max(maxConcurrentResultAdds, openResultAdds);
      res.once('close', () => openResultAdds--);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const accept = String(req.headers.accept ?? '');
      const apiVersion = /api-version=([^;,\s]+)/.exec(accept)?.[1];
      const entry = { method: req.method ?? '', path: url.pathname, apiVersion, status: 200 };
      requests.push(entry);
      let delayed = false;
      const reply = (status: number, body?: unknown) => {
        if (isResultAdd && options.resultsLatencyMs && !delayed) {
          delayed = true;
          setTimeout(() => reply(status, body), options.resultsLatencyMs);
          return;
        }
        entry.status = status;
        const text = body === undefined ? '' : JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      };
      const violation = (problem: string) => {
        violations.push(`${req.method} ${url.pathname}: ${problem}`);
        reply(400, { message: problem, typeKey: 'InvalidRequestException' });
      };
      if (size > MAX_BODY_BYTES) return reply(413, { message: 'request body too large' });
      if (req.headers.authorization !== `Bearer ${token}`) return reply(401, { message: 'TF400813: not authorized' });
      const raw = Buffer.concat(chunks).toString('utf8');
      if (keepBodies && raw) bodies.push(raw.slice(0, 1024 * 1024));
      let body: any;
      if (raw) {
        if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return violation('body is not application/json');
        try {
          body = JSON.parse(raw);
        } catch {
          return violation('body is not JSON');
        }
      }
      const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
      if (segments[0] !== collection) return reply(404, { message: 'no such collection' });
      const rest = segments.slice(1);
      const lower = rest.map((s) => s.toLowerCase());

      // Discovery: OPTIONS {collection}/_apis/{area}
      if (req.method === 'OPTIONS' && lower[0] === '_apis' && rest.length === 2) {
        const locations = LOCATIONS[lower[1]];
        return locations ? reply(200, { count: locations.length, value: locations }) : reply(404, { message: 'no such area' });
      }
      if (req.method === 'GET' && lower[0] === '_apis' && lower[1] === 'resourceareas' && rest.length === 2) {
        if (!versionOk(apiVersion, LOCATIONS.location[0])) return violation(`api-version ${apiVersion} not offered`);
        return reply(200, { count: 1, value: [{ id: TEST_AREA_ID, name: 'Test', locationUrl: `${baseUrl()}/` }] });
      }
      // {project}/_apis/test/...
      if (rest.length < 4 || lower[1] !== '_apis' || lower[2] !== 'test') return reply(404, { message: 'no such route' });
      if (rest[0] !== project) return reply(404, { message: `project '${rest[0]}' does not exist` });
      const tail = lower.slice(3);
      const location = (id: string) => LOCATIONS.test.find((l) => l.id === id)!;

      if (tail[0] === 'runs' && tail.length === 1 && req.method === 'POST') {
        if (!versionOk(apiVersion, location(LOCATION_IDS.runs))) return violation(`api-version ${apiVersion} not offered`);
        const problems = checkAgainstTypings(body, 'RunCreateModel');
        if (typeof body?.name !== 'string' || !body.name.trim()) problems.push('RunCreateModel.name: empty');
        if (body?.pipelineReference !== undefined) problems.push(...pipelineReferenceProblems(body.pipelineReference, body.build?.id));
        if (body?.state !== undefined && !enumNames('TestRunState').has(body.state))
          problems.push(`state '${body.state}' is not a TestRunState`);
        if (problems.length) return violation(problems.join('; '));
        const id = nextRunId++;
        runs.set(id, {
          id,
          created: body,
          state: body.state ?? 'NotStarted',
          updates: [],
          resultCount: 0,
          outcomes: {},
          batches: [],
          results: [],
          resultIds: [],
          subResultCount: 0,
          attachments: [],
        });
        return reply(200, {
          id,
          name: body.name,
          state: body.state ?? 'NotStarted',
          url: `${baseUrl()}/${project}/_apis/test/Runs/${id}`,
          build: body.build,
        });
      }
      const runId = Number(rest[4]);
      const run = tail[0] === 'runs' && tail.length >= 2 ? runs.get(runId) : undefined;
      if (tail[0] === 'runs' && tail.length >= 2 && !run) return reply(404, { message: `test run ${rest[4]} does not exist` });

      if (run && tail.length === 2 && req.method === 'PATCH') {
        if (!versionOk(apiVersion, location(LOCATION_IDS.runs))) return violation(`api-version ${apiVersion} not offered`);
        const problems = checkAgainstTypings(body, 'RunUpdateModel');
        if (body?.state !== undefined && !enumNames('TestRunState').has(body.state))
          problems.push(`state '${body.state}' is not a TestRunState`);
        if (run.state === 'Completed' || run.state === 'Aborted') problems.push(`run ${run.id} is already ${run.state}`);
        if (problems.length) return violation(problems.join('; '));
        run.updates.push(body);
        if (body.state) run.state = body.state;
        return reply(200, { id: run.id, name: run.created.name, state: run.state });
      }
      if (run && tail.length === 3 && tail[2] === 'results' && req.method === 'POST') {
        if (!versionOk(apiVersion, location(LOCATION_IDS.results))) return violation(`api-version ${apiVersion} not offered`);
        if (!Array.isArray(body) || body.length === 0) return violation('body must be a non-empty array of TestCaseResult');
        if (body.length > MAX_RESULTS_PER_ADD) return violation(`${body.length} results in one call (at most ${MAX_RESULTS_PER_ADD})`);
        if (run.state !== 'InProgress') return violation(`run ${run.id} is ${run.state}, results can only be added while InProgress`);
        if (options.failResultsAfter !== undefined && resultAdds >= options.failResultsAfter) {
          return reply(503, { message: 'TF400898: An Internal Error Occurred.', typeKey: 'ServiceUnavailableException' });
        }
        if (options.stallResultsAfter !== undefined && resultAdds >= options.stallResultsAfter) {
          stalled++;
          return;
        }
        resultAdds++;
        const outcomes = enumNames('TestOutcome');
        const problems: string[] = [];
        body.forEach((r: any, i: number) => {
          problems.push(...checkAgainstTypings(r, 'TestCaseResult', `[${i}]`));
          if (typeof r?.testCaseTitle !== 'string' || !r.testCaseTitle) problems.push(`[${i}].testCaseTitle: empty`);
          if (typeof r?.automatedTestName !== 'string' || !r.automatedTestName) problems.push(`[${i}].automatedTestName: empty`);
          if (!outcomes.has(r?.outcome)) problems.push(`[${i}].outcome '${r?.outcome}' is not a TestOutcome`);
          if (r?.state !== 'Completed') problems.push(`[${i}].state must be Completed`);
          problems.push(...customFieldProblems(r?.customFields, `[${i}]`));
          problems.push(...subResultProblems(r, `[${i}]`, 1));
        });
        if (problems.length) return violation(problems.slice(0, 10).join('; '));
        run.batches.push(body.length);
        const answer = body.map((r: any) => {
          run.resultCount++;
          run.outcomes[r.outcome] = (run.outcomes[r.outcome] ?? 0) + 1;
          const id = nextResultId++;
          if (run.results.length < keepResults) {
            run.results.push(r);
            run.resultIds.push(id);
          }
          const ids = new Set<number>();
          const subResults = storeSubResults(r.subResults, ids, run);
          if (ids.size > 0) subResultsOf.set(id, ids);
          return {
            id,
            testCaseTitle: r.testCaseTitle,
            outcome: r.outcome,
            testRun: { id: String(run.id) },
            ...(subResults ? { subResults } : {}),
          };
        });
        return reply(200, { count: answer.length, value: answer });
      }
      const attachmentRoute =
        run &&
        req.method === 'POST' &&
        ((tail.length === 3 && tail[2] === 'attachments') || (tail.length === 5 && tail[2] === 'results' && tail[4] === 'attachments'));
      if (run && attachmentRoute) {
        const resultId = tail.length === 5 ? Number(rest[6]) : undefined;
        const subParam = url.searchParams.get('testSubResultId');
        const subResultId = subParam === null ? undefined : Number(subParam);
        const loc = location(resultId === undefined ? LOCATION_IDS.runAttachments : LOCATION_IDS.resultAttachments);
        if (!versionOk(apiVersion, loc)) return violation(`api-version ${apiVersion} not offered`);
        const problems = checkAgainstTypings(body, 'TestAttachmentRequestModel');
        if (typeof body?.fileName !== 'string' || !body.fileName || /[\\/]/.test(body.fileName))
          problems.push('fileName must be a plain file name');
        if (typeof body?.stream !== 'string' || body.stream.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(body.stream))
          problems.push('stream is not base64');
        const types = [
          'GeneralAttachment',
          'AfnStrip',
          'BugFilingData',
          'CodeCoverage',
          'IntermediateCollectorData',
          'RunConfig',
          'TestImpactDetails',
          'TmiTestRunDeploymentFiles',
          'TmiTestRunReverseDeploymentFiles',
          'TmiTestResultDetail',
          'TmiTestRunSummary',
          'ConsoleLog',
        ];
        if (body?.attachmentType !== undefined && !types.includes(body.attachmentType))
          problems.push(`attachmentType '${body.attachmentType}' is not known`);
        if (resultId !== undefined && !(resultId >= 100000 && resultId < nextResultId)) problems.push(`result ${rest[6]} does not exist`);
        if (subResultId !== undefined && (resultId === undefined || !subResultsOf.get(resultId)?.has(subResultId))) {
          problems.push(`sub-result ${subParam} is not one of result ${rest[6]}`);
        }
        if (problems.length) return violation(problems.join('; '));
        const bytes = Buffer.from(body.stream, 'base64');
        run.attachments.push({
          fileName: body.fileName,
          attachmentType: body.attachmentType,
          comment: body.comment,
          size: bytes.length,
          sha256: crypto.createHash('sha256').update(bytes).digest('hex'),
          content: bytes.length <= 64 * 1024 ? bytes : undefined,
          resultId,
          subResultId,
        });
        const id = nextAttachmentId++;
        return reply(200, { id, url: `${baseUrl()}/${project}/_apis/test/Runs/${run.id}/attachments/${id}` });
      }
      return reply(404, { message: `no route for ${req.method} ${url.pathname}` });
    });
  });

  /** Gives every sub-result an id (as the service answers them, in the order sent); returns the answer's subResults. */
  function storeSubResults(subs: any[] | undefined, ids: Set<number>, run: ContractRun): any[] | undefined {
    if (!Array.isArray(subs) || subs.length === 0) return undefined;
    return subs.map((sub) => {
      const id = nextSubResultId++;
      ids.add(id);
      run.subResultCount++;
      const nested = storeSubResults(sub.subResults, ids, run);
      return { id, displayName: sub.displayName, outcome: sub.outcome, ...(nested ? { subResults: nested } : {}) };
    });
  }

  function baseUrl(): string {
    return `${options.tls ? 'https' : 'http'}://${options.host ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}/${collection}`;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `${baseUrl()}/`,
    token,
    project,
    runs,
    requests,
    violations,
    bodies,
    get maxConcurrentResultAdds() {
      return maxConcurrentResultAdds;
    },
    get stalled() {
      return stalled;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A ResultGroupType as sent: its name or its number. */
function groupTypeName(value: unknown): string | undefined {
  const names = ['None', 'Rerun', 'DataDriven', 'OrderedTest', 'Generic'];
  if (typeof value === 'number') return names[value];
  if (typeof value === 'string') return names.find((n) => n.toLowerCase() === value.toLowerCase());
  return undefined;
}

/** A result's or sub-result's subResults against the docs: group type set when (and only when) there are any. */
function subResultProblems(r: any, where: string, level: number): string[] {
  const problems: string[] = [];
  const subs = r?.subResults;
  const group = r?.resultGroupType === undefined ? undefined : groupTypeName(r.resultGroupType);
  if (r?.resultGroupType !== undefined && group === undefined)
    problems.push(`${where}.resultGroupType '${r.resultGroupType}' is not a ResultGroupType`);
  if (subs === undefined) {
    if (group !== undefined && group !== 'None') problems.push(`${where}: resultGroupType ${group} without subResults`);
    return problems;
  }
  if (!Array.isArray(subs) || subs.length === 0) return [...problems, `${where}.subResults: must be a non-empty array`];
  if (group === undefined || group === 'None') problems.push(`${where}: subResults without a resultGroupType`);
  if (level > MAX_SUB_RESULT_LEVELS) problems.push(`${where}.subResults: deeper than ${MAX_SUB_RESULT_LEVELS} levels`);
  if (subs.length > MAX_SUB_RESULTS_PER_LEVEL)
    problems.push(`${where}.subResults: ${subs.length} in one level (at most ${MAX_SUB_RESULTS_PER_LEVEL})`);
  const outcomes = enumNames('TestOutcome');
  subs.forEach((sub: any, i: number) => {
    const at = `${where}.subResults[${i}]`;
    if (typeof sub?.displayName !== 'string' || !sub.displayName) problems.push(`${at}.displayName: empty`);
    if (!outcomes.has(sub?.outcome)) problems.push(`${at}.outcome '${sub?.outcome}' is not a TestOutcome`);
    problems.push(...customFieldProblems(sub?.customFields, at));
    problems.push(...subResultProblems(sub, at, level + 1));
  });
  return problems;
}

function customFieldProblems(fields: unknown, where: string): string[] {
  if (fields === undefined) return [];
  if (!Array.isArray(fields)) return [`${where}.customFields: expected an array`];
  return fields.flatMap((f: any, i: number) => {
    const form = CUSTOM_FIELDS[f?.fieldName];
    if (!form) return [`${where}.customFields[${i}]: '${f?.fieldName}' is not a field the service takes without registration`];
    return typeof f.value === 'string' && form.test(f.value)
      ? []
      : [`${where}.customFields[${i}]: value '${f.value}' is not a ${f.fieldName} value`];
  });
}

/** PipelineReference against the docs: the pipeline is the build the run is linked to; names within 256 characters. */
function pipelineReferenceProblems(ref: any, buildId: unknown): string[] {
  const problems: string[] = [];
  if (!Number.isSafeInteger(ref?.pipelineId) || ref.pipelineId <= 0) problems.push('pipelineReference.pipelineId: not a build id');
  else if ((typeof buildId === 'string' || typeof buildId === 'number') && String(ref.pipelineId) !== String(buildId)) {
    problems.push(`pipelineReference.pipelineId ${ref.pipelineId} is not the run's build ${buildId}`);
  }
  for (const [key, name] of [
    ['stageReference', 'stageName'],
    ['phaseReference', 'phaseName'],
    ['jobReference', 'jobName'],
  ] as const) {
    const node = ref?.[key];
    if (node === undefined) continue;
    if (typeof node[name] !== 'string' || !node[name] || node[name].length > MAX_PIPELINE_NAME_CHARS)
      problems.push(`pipelineReference.${key}.${name}: empty or longer than ${MAX_PIPELINE_NAME_CHARS}`);
    if (node.attempt !== undefined && !(Number.isSafeInteger(node.attempt) && node.attempt >= 1))
      problems.push(`pipelineReference.${key}.attempt: not an attempt number`);
  }
  return problems;
}

/** The SDK asks for `M.m-preview.R`; the location must offer that version and resource version. */
function versionOk(apiVersion: string | undefined, location: Location): boolean {
  const m = apiVersion ? /^(\d+\.\d+)(?:-preview(?:\.(\d+))?)?$/.exec(apiVersion) : null;
  if (!m) return false;
  const version = Number(m[1]);
  if (version < Number(location.minVersion) || version > Number(location.maxVersion)) return false;
  return m[2] === undefined || Number(m[2]) <= location.resourceVersion;
}
