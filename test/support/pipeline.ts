// Runs an azure-pipelines.yml the way Azure Pipelines would, as far as this machine can: the server's part (queue-time
// parameters, triggers, stage and job order, conditions, runtime expressions, stageDependencies, service connections
// by name, an environment's approval) and the agent's part (a fresh work folder per job with its predefined variables,
// the implicit checkout, macros, step outputs, `publish:` / `download: current` / `artifact.upload`, the deployment
// job's runOnce hook with its automatic download). Every step that uses one of this repository's tasks runs its
// bundle (harness.ts) with the inputs the YAML gives; `bash:` / `script:` steps run in bash as the agent runs them;
// any other task is not run and is listed with the reason. What the runner does not emulate it refuses, by name.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'yaml';
import { repoRoot } from './env';
import {
  escapeRegExp,
  expandMacros,
  parseCommands,
  readTaskJson,
  runBundledTask,
  variableEnvName,
  type Endpoint,
  type TaskCommand,
  type TaskRun,
} from './harness';
import { evaluateCondition, runtimeExpressionValue, toText, type ExpressionObject, type StatusFunction } from './pipeline-expressions';

export type Result = 'Succeeded' | 'SucceededWithIssues' | 'Failed' | 'Skipped';

export interface PipelineRunOptions {
  /** The azure-pipelines.yml to run. */
  file: string;
  /** Queue-time values of the pipeline's `parameters`, as a person enters them in "Run pipeline". */
  parameters?: Record<string, string>;
  /**
   * What the server sets for the run: Build.BuildId, Build.BuildNumber, Build.Reason, Build.SourceBranch,
   * Build.SourceVersion, Build.Repository.Name, System.TeamFoundationCollectionUri, System.TeamProject,
   * System.PullRequest.TargetBranch for a pull request… (Build.SourceBranchName is derived as the server does.)
   */
  variables: Record<string, string>;
  /** Repository paths the change touched, for the triggers' path filters. */
  changedPaths: string[];
  /** Fills a job's sources folder, as `checkout: self` does. */
  checkout: (sourcesDirectory: string) => void;
  /** Service connections by the name the YAML gives them. */
  serviceConnections: Record<string, Endpoint>;
  /** SystemVssConnection, the job's access token the agent hands every task. */
  systemConnection?: Endpoint;
  /** The run's agents' work folders and its artifacts go here; the caller removes it. */
  workRoot: string;
  /** An environment's approvals and checks, answered as its approvers would. */
  approve: (environment: string) => boolean;
  /** Runs after each stage and before the next: what people or other systems do in between. */
  afterStage?: (stage: StageRecord, run: PipelineRun) => Promise<void>;
  log?: (line: string) => void;
}

export interface StepRecord {
  stage: string;
  job: string;
  /** The step's `name`, else its `displayName`, else what it is. */
  label: string;
  kind: 'task' | 'script' | 'publish' | 'download' | 'checkout';
  /** `BuildTestRunner@1`, for a task. */
  task?: string;
  result: Result;
  /** Why the step did not run: its condition, or a task that is not ours and cannot run here. */
  skipped?: string;
  /** A task's inputs as the agent hands them over (macros expanded, connections as ids). */
  inputs?: Record<string, string>;
  /** One of our tasks: its run. */
  run?: TaskRun;
  /** A script's output, or what the runner did in the agent's place. */
  output?: string;
}

export interface JobRecord {
  stage: string;
  name: string;
  kind: 'job' | 'deployment';
  result: Result;
  environment?: string;
  /** The job's agent work folder: $(Pipeline.Workspace). */
  workspace: string;
  /** Output variables as other jobs and stages read them (`push.digest`; `<job>.<step>.<var>` for runOnce). */
  outputs: Record<string, string>;
  /** The job's variables when its last step ended (predefined, declared, set by steps). */
  variables: Record<string, string>;
}

export interface StageRecord {
  name: string;
  result: Result;
  jobs: JobRecord[];
}

export interface PipelineRun {
  result: Result;
  stages: StageRecord[];
  steps: StepRecord[];
  /** Published artifacts by name: the folder that holds each one's files. */
  artifacts: Map<string, string>;
  /** What the runner stood in for (an approval, an automatic download): one line each. */
  notes: string[];
}

type Yaml = Record<string, any>;

const SUCCESS: readonly Result[] = ['Succeeded', 'SucceededWithIssues'];

/** A set of variables as the agent keeps them: names are case-insensitive, the last set wins. */
class Variables {
  private readonly byLower = new Map<string, { name: string; value: string }>();
  constructor(initial: Record<string, string> = {}) {
    for (const [name, value] of Object.entries(initial)) this.set(name, value);
  }
  set(name: string, value: string): void {
    this.byLower.set(name.toLowerCase(), { name, value });
  }
  get(name: string): string | undefined {
    return this.byLower.get(name.toLowerCase())?.value;
  }
  record(): Record<string, string> {
    return Object.fromEntries([...this.byLower.values()].map(({ name, value }) => [name, value]));
  }
}

function refuse(what: string): never {
  throw new Error(`the pipeline runner does not emulate ${what}`);
}

function checkKeys(node: Yaml, allowed: string[], where: string): void {
  for (const key of Object.keys(node)) if (!allowed.includes(key)) refuse(`'${key}' (${where})`);
}

/** A YAML scalar as the agent reads an input or variable: booleans and numbers as text, null as empty. */
function scalarText(value: unknown, where: string): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return toText(value);
  throw new Error(`${where} is not a scalar: ${JSON.stringify(value)}`);
}

/** `${{ parameters.x }}` expanded everywhere (the only template expression this runner knows), as the server compiles. */
function compileTemplates(node: unknown, parameters: Record<string, string>): unknown {
  const expand = (text: string) => {
    const out = text.replace(
      /\$\{\{\s*parameters(?:\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']+)'\])\s*\}\}/g,
      (_, dotted?: string, indexed?: string) => {
        const name = (dotted ?? indexed)!;
        if (!(name in parameters)) throw new Error(`the pipeline uses parameter '${name}', which it does not declare`);
        return parameters[name];
      },
    );
    if (out.includes('${{')) refuse(`the template expression in '${text}'`);
    return out;
  };
  if (typeof node === 'string') return expand(node);
  if (Array.isArray(node)) return node.map((item) => compileTemplates(item, parameters));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [expand(key), compileTemplates(value, parameters)]));
  }
  return node;
}

function parameterValues(declared: unknown, given: Record<string, string>): Record<string, string> {
  const values: Record<string, string> = {};
  const list = (declared ?? []) as Yaml[];
  if (!Array.isArray(list)) refuse('parameters written as a map (old syntax)');
  for (const p of list) {
    checkKeys(p, ['name', 'displayName', 'type', 'default', 'values'], `parameter ${p.name}`);
    if (!['string', 'boolean', 'number', undefined].includes(p.type)) refuse(`parameters of type ${p.type}`);
    const value = given[p.name] ?? (p.default === undefined ? undefined : scalarText(p.default, `parameter ${p.name}`));
    if (value === undefined) throw new Error(`parameter '${p.name}' has no default and no value was given`);
    if (p.values && !(p.values as unknown[]).map((v) => scalarText(v, p.name)).includes(value))
      throw new Error(`parameter '${p.name}' is '${value}', not one of its values`);
    values[p.name] = value;
  }
  for (const name of Object.keys(given)) if (!(name in values)) throw new Error(`the pipeline declares no parameter '${name}'`);
  return values;
}

/** `variables:` as a map or as a list of `name`/`value` items. */
function declaredVariables(node: unknown, where: string): [string, string][] {
  if (!node) return [];
  if (Array.isArray(node)) {
    return (node as Yaml[]).map((item) => {
      if (item.group !== undefined) refuse(`variable groups (${where})`);
      if (item.template !== undefined) refuse(`variable templates (${where})`);
      checkKeys(item, ['name', 'value', 'readonly'], `variables of ${where}`);
      return [String(item.name), scalarText(item.value, `variable ${item.name}`)];
    });
  }
  return Object.entries(node as Yaml).map(([name, value]) => [name, scalarText(value, `variable ${name}`)]);
}

/** A branch filter's pattern against `refs/heads/…`: `*` matches anything, the `refs/heads/` prefix is optional. */
function branchMatches(pattern: string, ref: string): boolean {
  const full = pattern.startsWith('refs/') ? pattern : `refs/heads/${pattern}`;
  const regex = new RegExp(`^${full.split('*').map(escapeRegExp).join('.*')}$`, 'i');
  return regex.test(ref);
}

function pathMatches(pattern: string, file: string): boolean {
  const prefix = pattern.replace(/^\/+/, '');
  if (prefix.includes('*')) refuse(`wildcards in path filters ('${pattern}')`);
  return file === prefix.replace(/\/+$/, '') || file.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

function filterAdmits(filter: Yaml | undefined, matches: (pattern: string) => boolean): boolean {
  const include = (filter?.include as string[] | undefined) ?? ['*'];
  const exclude = (filter?.exclude as string[] | undefined) ?? [];
  return include.some(matches) && !exclude.some(matches);
}

/** Whether the server would queue this run for its trigger (CI push or pull request; a manual run always is). */
function checkTriggered(pipeline: Yaml, variables: Variables, changedPaths: string[]): string {
  const reason = variables.get('Build.Reason') ?? 'Manual';
  // Without path filters every change counts; with them, one that an include (default: all) names and no exclude does.
  const pathsAdmit = (filter?: Yaml) =>
    !filter ||
    changedPaths.some(
      (file) =>
        ((filter.include as string[] | undefined)?.some((p) => pathMatches(p, file)) ?? true) &&
        !((filter.exclude as string[] | undefined) ?? []).some((p) => pathMatches(p, file)),
    );
  const check = (trigger: unknown, ref: string, kind: string): string => {
    if (trigger === 'none') throw new Error(`the run would not be queued: ${kind} triggers are off ('none')`);
    const spec: Yaml = Array.isArray(trigger) ? { branches: { include: trigger } } : ((trigger as Yaml | undefined) ?? {});
    if (!filterAdmits(spec.branches, (p) => branchMatches(p, ref)))
      throw new Error(`the run would not be queued: ${kind} branch filters leave out ${ref}`);
    if (!pathsAdmit(spec.paths)) throw new Error(`the run would not be queued: ${kind} path filters leave out ${changedPaths.join(', ')}`);
    return `${kind} trigger admits ${ref}${spec.paths ? ` (paths ${changedPaths.join(', ')})` : ''}`;
  };
  if (reason === 'IndividualCI' || reason === 'BatchedCI') return check(pipeline.trigger, variables.get('Build.SourceBranch') ?? '', 'CI');
  if (reason === 'PullRequest') return check(pipeline.pr, variables.get('System.PullRequest.TargetBranch') ?? '', 'pull request');
  return `${reason} run: no trigger to check`;
}

/**
 * The build's artifacts. `artifact.upload` writes into the build's file container, where an artifact is a folder
 * (its `containerfolder`, by default its name) and uploads add to it; `publish` makes a pipeline artifact, which
 * exists once.
 */
class ArtifactStore {
  readonly byName = new Map<string, string>();
  private readonly pipelineArtifacts = new Set<string>();
  constructor(private readonly root: string) {}

  /** The agent's artifact.upload (ArtifactCommandExtension): throws where the agent fails the command. */
  upload(properties: Record<string, string>, source: string): void {
    const name = properties.artifactname;
    if (!name) throw new Error('artifact.upload without artifactname');
    if (!source) throw new Error(`artifact.upload of ${name} names no file or folder`);
    if (!fs.existsSync(source)) throw new Error(`artifact.upload of ${name}: ${source} does not exist`);
    // An empty folder is a warning on the agent, and nothing is uploaded.
    if (fs.statSync(source).isDirectory() && fs.readdirSync(source, { recursive: true }).length === 0) return;
    const folder = properties.containerfolder || name;
    const target = path.join(this.root, 'container', folder);
    const existing = this.byName.get(name);
    if (existing && existing !== target) throw new Error(`artifact '${name}' was uploaded to two container folders`);
    if (this.pipelineArtifacts.has(name)) throw new Error(`artifact '${name}' already exists as a pipeline artifact`);
    copyInto(source, target);
    this.byName.set(name, target);
  }

  publish(name: string, source: string): void {
    if (this.byName.has(name)) throw new Error(`artifact '${name}' already exists`);
    const target = path.join(this.root, 'pipeline', name);
    copyInto(source, target);
    this.byName.set(name, target);
    this.pipelineArtifacts.add(name);
  }
}

/** A file goes into `folder` under its own name; a folder's contents go into `folder`. */
function copyInto(source: string, folder: string): void {
  fs.mkdirSync(folder, { recursive: true });
  if (fs.statSync(source).isDirectory()) fs.cpSync(source, folder, { recursive: true });
  else fs.copyFileSync(source, path.join(folder, path.basename(source)));
}

function ourTask(reference: string): { name: string } | undefined {
  const [name, major] = reference.split('@');
  if (!fs.existsSync(path.join(repoRoot, 'tasks', name, 'task.json'))) return undefined;
  const declared = readTaskJson(name, true).version.Major;
  if (Number(major) !== declared) throw new Error(`${reference}: this repository's ${name} is major version ${declared}`);
  return { name };
}

const STEP_COMMON = ['name', 'displayName', 'condition', 'env', 'enabled', 'timeoutInMinutes', 'continueOnError'];

interface JobContext {
  stage: string;
  name: string;
  kind: 'job' | 'deployment';
  variables: Variables;
  sources: string;
  workspace: string;
  outputs: Record<string, string>;
  failed: boolean;
}

/** What every stage and job of one run shares. */
interface RunState {
  options: PipelineRunOptions;
  pipeline: Yaml;
  /** The variables the server sets for the run. */
  server: Variables;
  run: PipelineRun;
  store: ArtifactStore;
  log: (line: string) => void;
  agents: number;
}

/** A stage's or job's dependencies as expressions read them: `<name>.result` and `<name>.outputs['…']`. */
function dependencyRoot(records: { name: string; result: Result; outputs: Record<string, string> }[]): ExpressionObject {
  return Object.fromEntries(records.map((r) => [r.name, { result: r.result, outputs: { ...r.outputs } }]));
}

export async function runPipeline(options: PipelineRunOptions): Promise<PipelineRun> {
  const raw = yaml.parse(fs.readFileSync(options.file, 'utf8')) as Yaml;
  checkKeys(raw, ['trigger', 'pr', 'parameters', 'variables', 'stages', 'name', 'pool'], 'the pipeline');
  const pipeline = compileTemplates(raw, parameterValues(raw.parameters, options.parameters ?? {})) as Yaml;
  if (!Array.isArray(pipeline.stages)) refuse('a pipeline without stages');

  const server = new Variables(options.variables);
  const sourceBranch = server.get('Build.SourceBranch');
  if (sourceBranch && server.get('Build.SourceBranchName') === undefined)
    server.set('Build.SourceBranchName', sourceBranch.split('/').pop()!);
  const store = new ArtifactStore(path.join(options.workRoot, 'artifacts'));
  const run: PipelineRun = { result: 'Succeeded', stages: [], steps: [], artifacts: store.byName, notes: [] };
  run.notes.push(checkTriggered(pipeline, server, options.changedPaths));
  const state: RunState = { options, pipeline, server, run, store, log: options.log ?? (() => {}), agents: 0 };

  const stages = pipeline.stages as Yaml[];
  for (const [index, stageNode] of stages.entries()) {
    // A stage depends on the one before it unless it says otherwise.
    const previous = index > 0 ? [String(stages[index - 1].stage)] : [];
    const record = await runStage(
      stageNode,
      stageNode.dependsOn === undefined ? previous : [stageNode.dependsOn].flat().map(String),
      state,
    );
    if (record.result !== 'Skipped') await options.afterStage?.(record, run);
  }
  run.result = run.stages.some((s) => s.result === 'Failed') ? 'Failed' : 'Succeeded';
  return run;
}

async function runStage(stageNode: Yaml, dependsOn: string[], state: RunState): Promise<StageRecord> {
  const { run, log } = state;
  checkKeys(stageNode, ['stage', 'displayName', 'dependsOn', 'condition', 'variables', 'jobs', 'pool'], `stage ${stageNode.stage}`);
  const name = String(stageNode.stage);
  const dependencies = dependsOn.map((dep) => {
    const done = run.stages.find((s) => s.name === dep);
    if (!done) throw new Error(`stage ${name} depends on '${dep}', which has not run before it`);
    return done;
  });
  const record: StageRecord = { name, result: 'Succeeded', jobs: [] };
  run.stages.push(record);
  const pipelineVariables = new Variables(state.server.record());
  for (const [key, value] of declaredVariables(state.pipeline.variables, 'the pipeline')) pipelineVariables.set(key, value);
  // A stage condition reads a dependency's outputs as `<job>.<step>.<variable>`.
  const stageOutputs = (stage: StageRecord) =>
    Object.fromEntries(stage.jobs.flatMap((j) => Object.entries(j.outputs).map(([k, v]) => [`${j.name}.${k}`, v])));
  const condition = stageNode.condition === undefined ? 'succeeded()' : String(stageNode.condition);
  const admitted = evaluateCondition(condition, {
    roots: {
      variables: pipelineVariables.record(),
      dependencies: dependencyRoot(dependencies.map((s) => ({ name: s.name, result: s.result, outputs: stageOutputs(s) }))),
    },
    status: dependencyStatus(dependencies.map((s) => s.result)),
  });
  if (!admitted) {
    record.result = 'Skipped';
    run.notes.push(`stage ${name}: skipped, its condition ${condition} is false`);
    log(`stage ${name}: skipped (condition ${condition})`);
    return record;
  }
  log(`stage ${name}`);
  // A job reads the stages this one depends on as `stageDependencies.<stage>.<job>.outputs['<step>.<variable>']`.
  const stageDependencies: ExpressionObject = Object.fromEntries(dependencies.map((s) => [s.name, dependencyRoot(s.jobs)]));
  for (const jobNode of (stageNode.jobs ?? []) as Yaml[]) {
    record.jobs.push(await runJob(jobNode, stageNode, record, { variables: pipelineVariables, stageDependencies }, state));
  }
  record.result = record.jobs.some((j) => j.result === 'Failed') ? 'Failed' : 'Succeeded';
  return record;
}

async function runJob(
  jobNode: Yaml,
  stageNode: Yaml,
  stage: StageRecord,
  seen: { variables: Variables; stageDependencies: ExpressionObject },
  state: RunState,
): Promise<JobRecord> {
  const { options, run, log } = state;
  const kind: JobContext['kind'] = jobNode.deployment !== undefined ? 'deployment' : 'job';
  const name = String(jobNode[kind]);
  const jobKeys = ['displayName', 'dependsOn', 'condition', 'pool', 'variables', 'timeoutInMinutes', 'cancelTimeoutInMinutes', 'workspace'];
  checkKeys(jobNode, [kind, ...jobKeys, ...(kind === 'job' ? ['steps'] : ['environment', 'strategy'])], `job ${name}`);
  const dependencies = [jobNode.dependsOn ?? []].flat().map((dep: string) => {
    const done = stage.jobs.find((j) => j.name === dep);
    if (!done) throw new Error(`job ${name} depends on '${dep}', which has not run before it`);
    return done;
  });
  const workspace = path.join(options.workRoot, `agent-${++state.agents}`);
  const job: JobContext = {
    stage: stage.name,
    name,
    kind,
    variables: new Variables(),
    sources: path.join(workspace, 's'),
    workspace,
    outputs: {},
    failed: false,
  };
  const record: JobRecord = { stage: stage.name, name, kind, result: 'Succeeded', workspace, outputs: job.outputs, variables: {} };
  const roots = { dependencies: dependencyRoot(dependencies), stageDependencies: seen.stageDependencies };
  const condition = jobNode.condition === undefined ? 'succeeded()' : String(jobNode.condition);
  const admitted = evaluateCondition(condition, {
    roots: { variables: seen.variables.record(), ...roots },
    status: dependencyStatus(dependencies.map((j) => j.result)),
  });
  if (!admitted) {
    record.result = 'Skipped';
    run.notes.push(`job ${stage.name}/${name}: skipped, its condition ${condition} is false`);
    log(`  job ${name}: skipped (condition ${condition})`);
    return record;
  }

  // A fresh agent: its work folder and the variables it predefines, then the declared ones, outer to inner.
  for (const dir of ['s', 'a', 'b', 'TestResults', '_temp']) fs.mkdirSync(path.join(workspace, dir), { recursive: true });
  const agentVariables: Record<string, string> = {
    ...state.server.record(),
    'Agent.BuildDirectory': workspace,
    'Agent.TempDirectory': path.join(workspace, '_temp'),
    'Agent.WorkFolder': options.workRoot,
    'Agent.JobName': String(jobNode.displayName ?? name),
    'Pipeline.Workspace': workspace,
    'Build.SourcesDirectory': job.sources,
    'Build.Repository.LocalPath': job.sources,
    'System.DefaultWorkingDirectory': job.sources,
    'Build.ArtifactStagingDirectory': path.join(workspace, 'a'),
    'Build.StagingDirectory': path.join(workspace, 'a'),
    'System.ArtifactsDirectory': path.join(workspace, 'a'),
    'Build.BinariesDirectory': path.join(workspace, 'b'),
    'Common.TestResultsDirectory': path.join(workspace, 'TestResults'),
    // YAML runs are builds, deployment jobs included: artifact.upload works in every job.
    'System.HostType': 'build',
    'System.StageName': stage.name,
    'System.JobName': name,
    'System.PhaseName': name,
  };
  for (const [key, value] of Object.entries(agentVariables)) job.variables.set(key, value);
  const declared = [
    ...declaredVariables(state.pipeline.variables, 'the pipeline'),
    ...declaredVariables(stageNode.variables, `stage ${stage.name}`),
    ...declaredVariables(jobNode.variables, `job ${name}`),
  ];
  for (const [key, value] of declared) {
    const evaluated = runtimeExpressionValue(value, { roots: { variables: job.variables.record(), ...roots } });
    job.variables.set(key, evaluated ?? value);
  }
  expandNestedMacros(job.variables, new Set(declared.map(([key]) => key.toLowerCase())));

  let steps: Yaml[];
  if (kind === 'deployment') {
    const environment = typeof jobNode.environment === 'string' ? jobNode.environment : jobNode.environment?.name;
    if (!environment) throw new Error(`deployment ${name} names no environment`);
    record.environment = environment;
    job.variables.set('Environment.Name', environment);
    const strategy = (jobNode.strategy ?? {}) as Yaml;
    checkKeys(strategy, ['runOnce'], `the strategy of deployment ${name}`);
    checkKeys(strategy.runOnce ?? {}, ['deploy'], `runOnce of deployment ${name}`);
    steps = [...((strategy.runOnce?.deploy?.steps ?? []) as Yaml[])];
    // The deploy hook downloads every artifact of the run first unless it has download steps of its own.
    if (!steps.some((step) => step.download !== undefined)) {
      steps.unshift({ download: 'current' });
      run.notes.push(`deployment ${name}: no download step, so the deploy hook downloads every artifact first, as the agent injects it`);
    }
    if (!options.approve(environment)) {
      record.result = 'Failed';
      run.notes.push(`environment ${environment}: approval rejected`);
      log(`  deployment ${name}: environment ${environment} rejected the run`);
      return record;
    }
    run.notes.push(`environment ${environment}: its approvals and checks passed (answered by the test, as an approver would)`);
  } else {
    steps = (jobNode.steps ?? []) as Yaml[];
    // A job checks out its repository first unless a checkout step says otherwise; a deployment job does not.
    if (!steps.some((step) => step.checkout !== undefined)) options.checkout(job.sources);
  }
  log(`  ${kind} ${name}${record.environment ? ` (environment ${record.environment})` : ''}`);

  for (const step of steps) {
    const stepRecord = await runStep(step, job, options, state.store);
    run.steps.push(stepRecord);
    if (stepRecord.result === 'Failed') job.failed = true;
    log(`    ${describeStep(stepRecord)}`);
  }
  record.result = job.failed ? 'Failed' : 'Succeeded';
  record.variables = job.variables.record();
  return record;
}

/** The status functions of a stage or job: about the stages or jobs it depends on. */
function dependencyStatus(results: Result[]): (fn: StatusFunction) => boolean {
  return (fn) => {
    if (fn === 'succeeded') return results.every((r) => SUCCESS.includes(r));
    if (fn === 'failed') return results.some((r) => r === 'Failed');
    return true;
  };
}

/** The agent expands `$(…)` inside the values of declared variables (nested references), up to a fixed depth. */
function expandNestedMacros(variables: Variables, declared: Set<string>): void {
  for (let depth = 0; depth < 50; depth++) {
    let changed = false;
    const all = variables.record();
    for (const [name, value] of Object.entries(all)) {
      if (!declared.has(name.toLowerCase())) continue;
      const expanded = expandMacros(value, all);
      if (expanded !== value) {
        variables.set(name, expanded);
        changed = true;
      }
    }
    if (!changed) return;
  }
}

function stepLabel(step: Yaml, fallback: string): string {
  return String(step.name ?? step.displayName ?? fallback);
}

async function runStep(step: Yaml, job: JobContext, options: PipelineRunOptions, store: ArtifactStore): Promise<StepRecord> {
  const kind: StepRecord['kind'] =
    step.task !== undefined
      ? 'task'
      : step.bash !== undefined || step.script !== undefined
        ? 'script'
        : step.publish !== undefined
          ? 'publish'
          : step.download !== undefined
            ? 'download'
            : step.checkout !== undefined
              ? 'checkout'
              : refuse(`the step ${JSON.stringify(step)}`);
  const allowed: Record<StepRecord['kind'], string[]> = {
    task: ['task', 'inputs'],
    script: ['bash', 'script', 'workingDirectory', 'failOnStderr'],
    publish: ['publish', 'artifact'],
    download: ['download', 'artifact'],
    checkout: ['checkout'],
  };
  const fallback =
    kind === 'task'
      ? String(step.task)
      : kind === 'script'
        ? 'script'
        : kind === 'checkout'
          ? `checkout ${step.checkout}`
          : `${kind} ${step.artifact ?? step[kind]}`;
  checkKeys(step, [...STEP_COMMON, ...allowed[kind]], `step ${stepLabel(step, fallback)}`);
  if (step.continueOnError !== undefined && step.continueOnError !== false) refuse(`continueOnError (step ${stepLabel(step, fallback)})`);
  const record: StepRecord = {
    stage: job.stage,
    job: job.name,
    label: stepLabel(step, fallback),
    kind,
    task: step.task,
    result: 'Succeeded',
  };
  const expand = (text: string) => expandMacros(text, job.variables.record());

  if (step.enabled === false) return { ...record, result: 'Skipped', skipped: 'enabled: false' };
  const condition = step.condition === undefined ? 'succeeded()' : String(step.condition);
  const status = (fn: StatusFunction) => (fn === 'succeeded' ? !job.failed : fn === 'failed' ? job.failed : true);
  if (!evaluateCondition(condition, { roots: { variables: job.variables.record() }, status })) {
    return { ...record, result: 'Skipped', skipped: `condition ${condition} is false` };
  }

  const env: Record<string, string> = Object.fromEntries(
    Object.entries((step.env ?? {}) as Yaml).map(([key, value]) => [key, expand(scalarText(value, `env ${key}`))]),
  );
  switch (kind) {
    case 'task':
      return runTaskStep(step, record, job, options, store, env);
    case 'script':
      return runScriptStep(step, record, job, store, env);
    case 'publish': {
      if (!step.artifact) refuse('publish without an artifact name');
      const source = path.resolve(job.sources, expand(String(step.publish)));
      if (!fs.existsSync(source)) return { ...record, result: 'Failed', output: `${source} does not exist` };
      store.publish(String(step.artifact), source);
      return { ...record, output: `published ${source} as artifact ${step.artifact}` };
    }
    case 'download': {
      if (step.download === 'none') return { ...record, output: 'no artifacts downloaded' };
      if (step.download !== 'current') refuse(`download from '${step.download}'`);
      const names = step.artifact ? [String(step.artifact)] : [...store.byName.keys()];
      for (const name of names) {
        const folder = store.byName.get(name);
        if (!folder) return { ...record, result: 'Failed', output: `artifact ${name} does not exist in this run` };
        fs.cpSync(folder, path.join(job.workspace, name), { recursive: true });
      }
      return { ...record, output: `downloaded ${names.join(', ')} into $(Pipeline.Workspace)` };
    }
    case 'checkout':
      if (step.checkout === 'none') return { ...record, output: 'no checkout' };
      if (step.checkout !== 'self') refuse(`checkout of '${step.checkout}'`);
      options.checkout(job.sources);
      return { ...record, output: `checked out into ${job.sources}` };
  }
}

/**
 * What a step's logging commands do to the job: variables, outputs, artifacts. Returns the commands the agent would
 * fail, each of which fails the step (WorkerCommandManager: CommandResult = Failed).
 */
function applyCommands(commands: TaskCommand[], stepName: string | undefined, job: JobContext, store: ArtifactStore): string[] {
  const failures: string[] = [];
  for (const c of commands) {
    if (c.command === 'task.setvariable') {
      const variable = c.properties.variable;
      if (c.properties.isOutput === 'true') {
        if (!stepName) continue;
        job.variables.set(`${stepName}.${variable}`, c.message);
        // Other jobs read a runOnce deployment's outputs under the job's name as well as the step's.
        job.outputs[job.kind === 'deployment' ? `${job.name}.${stepName}.${variable}` : `${stepName}.${variable}`] = c.message;
      } else {
        job.variables.set(variable, c.message);
      }
    } else if (c.command === 'artifact.upload') {
      try {
        store.upload(c.properties, c.message);
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  }
  return failures;
}

async function runTaskStep(
  step: Yaml,
  record: StepRecord,
  job: JobContext,
  options: PipelineRunOptions,
  store: ArtifactStore,
  env: Record<string, string>,
): Promise<StepRecord> {
  const given = Object.fromEntries(
    Object.entries((step.inputs ?? {}) as Yaml).map(([key, value]) => [key, scalarText(value, `input ${key}`)]),
  );
  const ours = ourTask(String(step.task));
  const variables = job.variables.record();
  if (!ours) {
    const inputs = Object.fromEntries(Object.entries(given).map(([key, value]) => [key, expandMacros(value, variables)]));
    return { ...record, result: 'Skipped', inputs, skipped: `${step.task} is not one of this repository's tasks: not run here` };
  }
  // The server hands a task the id of each service connection its inputs name.
  const endpoints: Endpoint[] = options.systemConnection ? [options.systemConnection] : [];
  for (const input of readTaskJson(ours.name, true).inputs as { name: string; type: string }[]) {
    if (!input.type.startsWith('connectedService:') || !given[input.name]) continue;
    const connectionName = expandMacros(given[input.name], variables);
    const endpoint = options.serviceConnections[connectionName];
    if (!endpoint) throw new Error(`${step.task} input '${input.name}' names service connection '${connectionName}', which does not exist`);
    endpoints.push(endpoint);
    given[input.name] = endpoint.id;
  }
  const taskRun = await runBundledTask(ours.name, { inputs: given, variables, endpoints, env, cwd: job.sources });
  const failures = applyCommands(taskRun.commands, step.name as string | undefined, job, store);
  const result = failures.length ? 'Failed' : (taskRun.result ?? (taskRun.exitCode === 0 ? 'Succeeded' : 'Failed'));
  const inputs = Object.fromEntries(Object.entries(given).map(([key, value]) => [key, expandMacros(value, variables)]));
  return {
    ...record,
    result: result === 'Succeeded' || result === 'SucceededWithIssues' ? result : 'Failed',
    inputs,
    run: taskRun,
    ...(failures.length ? { output: failures.join('\n') } : {}),
  };
}

function runScriptStep(step: Yaml, record: StepRecord, job: JobContext, store: ArtifactStore, env: Record<string, string>): StepRecord {
  if (step.failOnStderr) refuse('failOnStderr');
  const variables = job.variables.record();
  const file = path.join(job.workspace, '_temp', `${crypto.randomUUID()}.sh`);
  fs.writeFileSync(file, expandMacros(String(step.bash ?? step.script), variables));
  const processEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !/^(INPUT|ENDPOINT|SECRET)_/.test(key)) processEnv[key] = value;
  for (const [name, value] of Object.entries(variables)) processEnv[variableEnvName(name)] = value;
  // As the agent's Bash and CmdLine tasks run an inline script on Linux.
  const result = spawnSync('bash', ['--noprofile', '--norc', file], {
    cwd: step.workingDirectory ? path.resolve(job.sources, expandMacros(String(step.workingDirectory), variables)) : job.sources,
    env: { ...processEnv, ...env },
    encoding: 'utf8',
  });
  fs.rmSync(file, { force: true });
  const { commands, lines } = parseCommands(result.stdout ?? '');
  const failures = applyCommands(commands, step.name as string | undefined, job, store);
  const output = [...lines, ...(result.stderr ? [result.stderr.trim()] : []), ...failures].join('\n');
  return { ...record, result: result.status === 0 && !failures.length ? 'Succeeded' : 'Failed', output };
}

/** One line: where, what, how it ended, and why when it did not run or failed. */
export function describeStep(step: StepRecord): string {
  const what = step.task ? `${step.label} (${step.task})` : step.label;
  const why = step.skipped ?? (step.result === 'Failed' ? (step.run?.message ?? step.output?.split('\n').pop()) : undefined);
  return `${step.stage}/${step.job}: ${what} → ${step.result}${why ? `: ${why}` : ''}`;
}

/** The steps that did not run, with the reason: what a reader of the test's output must know was not exercised. */
export function skippedSteps(run: PipelineRun): StepRecord[] {
  return run.steps.filter((step) => step.result === 'Skipped');
}
