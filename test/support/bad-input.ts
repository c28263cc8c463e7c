// The bad-input suite's one assertion: a task given a bad input ends Failed with one line that names the input, no
// stack trace, within a time bound, with no side effect (registry tags, files, containers, ~/.docker) and no secret
// in any encoding. Each task's table lives in test/task/bad-input-<task>.test.ts and runs through `badInputCases`.
import { strict as assert } from 'node:assert';
import { secretForms } from '../../shared/src/pipeline/secrets';
import {
  assertFailedCleanly,
  describeRun,
  dockerConfigSnapshot,
  escapeRegExp,
  filesContaining,
  runBundledTask,
  type Endpoint,
  type RunOptions,
  type TaskRun,
} from './harness';

/** A request timeout is 30 s at most (shared/src/registry's defaults); a bad input must fail within twice that. */
export const BAD_INPUT_TIME_BOUND_MS = 60_000;

export interface BadInputCase {
  /** What is wrong, as a person would say it. */
  name: string;
  /** The inputs (and anything else) of the run; merged over the table's `base`. */
  options: RunOptions;
  /** The input the result line must name (`input 'x'`, or the setting's name). */
  names: string;
  /** More the line must say. */
  pattern?: RegExp;
  /** How the case ends when a bad input is not refused but handled (item 3: e.g. summarised warnings). */
  result?: TaskRun['result'];
}

export interface BadInputTable {
  task: string;
  /** Options every case starts from (valid inputs, endpoints, variables). */
  base?: () => RunOptions | Promise<RunOptions>;
  /** Secrets that must appear in no encoding in any output or file. */
  secrets?: () => string[];
  /** A snapshot of everything a case may not change (registry tags, files, containers); compared before and after. */
  sideEffects?: () => Promise<string>;
  cases: BadInputCase[];
}

/** A case whose inputs and endpoints are read when it runs (the registries a table names start in `before`). */
export function late(inputs: () => Record<string, string>, endpoints?: () => Endpoint[]): RunOptions {
  return {
    get inputs() {
      return inputs();
    },
    get endpoints() {
      return endpoints?.();
    },
  };
}

function merge(base: RunOptions, extra: RunOptions): RunOptions {
  return {
    ...base,
    ...extra,
    inputs: { ...base.inputs, ...extra.inputs },
    variables: { ...base.variables, ...extra.variables },
    env: { ...base.env, ...extra.env },
    endpoints: extra.endpoints ?? base.endpoints,
  };
}

/** Registers one mocha test per case. */
export function badInputCases(table: BadInputTable): void {
  for (const [index, testCase] of table.cases.entries()) {
    it(`${testCase.name} → names ${testCase.names}${index === 0 ? ' (late reader)' : ''}`, async function () {
      this.timeout(BAD_INPUT_TIME_BOUND_MS + 30_000);
      const base = (await table.base?.()) ?? {};
      const before = await table.sideEffects?.();
      const dockerBefore = dockerConfigSnapshot();
      const started = Date.now();
      // The first case of every table is read by an agent that reads late and slowly (harness.ts).
      const run = await runBundledTask(table.task, { ...merge(base, testCase.options), reader: index === 0 ? 'late' : 'fast' });
      const elapsed = Date.now() - started;
      if (testCase.result && testCase.result !== 'Failed') {
        assert.equal(run.result, testCase.result, describeRun(run));
      } else {
        assertFailedCleanly(run, new RegExp(escapeRegExp(testCase.names)));
      }
      if (testCase.pattern) assert.match(run.message, testCase.pattern, describeRun(run));
      // A hang guard, not a speed test: the bound is twice the longest request timeout.
      assert.ok(elapsed < BAD_INPUT_TIME_BOUND_MS, `took ${elapsed} ms`);
      if (table.sideEffects) assert.equal(await table.sideEffects(), before, 'the case changed what it must not');
      assert.equal(dockerConfigSnapshot(), dockerBefore, '~/.docker changed');
      const forms = (table.secrets?.() ?? []).flatMap(secretForms);
      const raw = run.stdout + run.stderr;
      for (const form of forms) assert.ok(!raw.includes(form), `a secret reached the output (${form.slice(0, 3)}…)`);
      assert.deepEqual(filesContaining(run.tempDirectory, forms), [], 'a secret was left in a file');
    });
  }
}
