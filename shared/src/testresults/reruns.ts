// Reruns in TRX files (api rules): results that repeat a test's `testId` and `testName` (each with its own executionId)
// are attempts of one test (the VSTest retry pattern; data rows of a theory share the testId but not the name).
// They are merged into one result per test, the final attempt counted, every attempt a sub-result. A file is
// streamed, so the first pass counts each key in a fixed-size hash table and the second pass holds only the
// attempts of tests that will be repeated, until their last attempt arrives.
import { outcomeClass, type SubResult, type TestResult } from './model';
import { SubResultBudget, type ReaderContext } from './reader';

/**
 * Keys tracked per file. The table holds one 53-bit hash and one count per key (10 bytes a slot, at most half full):
 * 1,000,000 keys take about 20 MiB. A file with more distinct tests than this has its further tests' reruns
 * published as separate results, with a warning.
 */
export const MAX_RERUN_KEYS = 1_000_000;
/**
 * Attempts held at once while their test's last attempt has not arrived, and their text. Attempts are held as
 * sub-results, already within the sub-result text budget; past either cap the oldest test is published with the
 * attempts it has (its later attempts then form a second result), with a warning.
 */
export const MAX_HELD_ATTEMPTS = 10_000;
export const MAX_HELD_ATTEMPT_BYTES = 32 * 1024 * 1024;

/** Two 32-bit FNV-1a hashes with different offsets, as one non-zero 53-bit number. */
function hashKey(key: string): number {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  const hash = (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
  return hash === 0 ? 1 : hash;
}

/** Pass 1: how often each rerun key occurs in a file, in bounded memory. */
export class RerunCounter {
  private keys = new Float64Array(1024);
  private counts = new Uint16Array(1024);
  private size = 0;
  /** Keys not tracked because the table was full. */
  untracked = 0;
  /** Keys seen more than once: tests with reruns. */
  repeated = 0;

  add(key: string): void {
    const hash = hashKey(key);
    let slot = this.find(hash);
    if (this.keys[slot] === 0) {
      if (this.size >= MAX_RERUN_KEYS) {
        this.untracked++;
        return;
      }
      if ((this.size + 1) * 2 > this.keys.length) {
        this.grow();
        slot = this.find(hash);
      }
      this.keys[slot] = hash;
      this.size++;
    }
    if (this.counts[slot] === 1) this.repeated++;
    if (this.counts[slot] < 0xffff) this.counts[slot]++;
  }

  /** How many times `key` occurred (1 when unknown: a key that was never tracked is not merged). */
  count(key: string): number {
    const slot = this.find(hashKey(key));
    return this.keys[slot] === 0 ? 1 : this.counts[slot];
  }

  /** Pass 2: how many occurrences of `key` are still to come, this one included; counts this one off. */
  take(key: string): number {
    const slot = this.find(hashKey(key));
    if (this.keys[slot] === 0) return 1;
    const left = this.counts[slot];
    if (left > 0) this.counts[slot] = left - 1;
    return Math.max(left, 1);
  }

  private find(hash: number): number {
    const mask = this.keys.length - 1;
    let slot = (hash % this.keys.length) & mask;
    while (this.keys[slot] !== 0 && this.keys[slot] !== hash) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const keys = this.keys;
    const counts = this.counts;
    this.keys = new Float64Array(keys.length * 2);
    this.counts = new Uint16Array(keys.length * 2);
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] === 0) continue;
      const slot = this.find(keys[i]);
      this.keys[slot] = keys[i];
      this.counts[slot] = counts[i];
    }
  }
}

interface Group {
  /** The test's names, for a group published before its last attempt. */
  identity: Pick<TestResult, 'title' | 'fullName' | 'storage'>;
  expected: number;
  attempts: SubResult[];
  anyFailed: boolean;
  bytes: number;
  budget: SubResultBudget;
}

function attemptOf(result: TestResult, n: number, keepOutput: boolean): SubResult {
  return {
    displayName: `Attempt ${n}`,
    outcome: result.outcome,
    durationMs: result.durationMs,
    startedDate: result.startedDate,
    completedDate: result.completedDate,
    computerName: result.computerName,
    errorMessage: result.errorMessage,
    stackTrace: result.stackTrace,
    stdout: keepOutput ? result.stdout : undefined,
    stderr: keepOutput ? result.stderr : undefined,
    attempt: n,
    resultGroupType: result.resultGroupType,
    subResults: result.subResults,
  };
}

function textBytes(sub: SubResult): number {
  return 200 + (sub.errorMessage?.length ?? 0) + (sub.stackTrace?.length ?? 0) + (sub.stdout?.length ?? 0) + (sub.stderr?.length ?? 0);
}

/**
 * Pass 2: results whose key the counter saw more than once are held until their last attempt, then emitted as one
 * result: the last attempt's outcome and details, every attempt a sub-result (`Rerun`), flaky when an earlier
 * attempt failed and the last passed.
 */
export class RerunMerger {
  private readonly groups = new Map<string, Group>();
  private heldAttempts = 0;
  private heldBytes = 0;
  /** Tests published in more than one result because too many attempts were held at once. */
  split = 0;

  constructor(
    private readonly counter: RerunCounter,
    private readonly ctx: ReaderContext,
    private readonly emit: (result: TestResult) => void,
  ) {}

  add(result: TestResult): void {
    const key = result.rerunKey;
    if (key === undefined) return this.emit(result);
    // Attempts still to come, this one included: a test whose held attempts had to be published early starts over
    // with only what is left, so one split never makes another.
    const left = this.counter.take(key);
    let group = this.groups.get(key);
    if (!group) {
      const expected = left;
      if (expected <= 1) return this.emit(result);
      const identity = { title: result.title, fullName: result.fullName, storage: result.storage };
      group = { identity, expected, attempts: [], anyFailed: false, bytes: 0, budget: new SubResultBudget(this.ctx) };
      this.groups.set(key, group);
    }
    const n = group.attempts.length + 1;
    group.anyFailed ||= outcomeClass(result.outcome) === 'failed';
    if (n >= group.expected) {
      this.groups.delete(key);
      this.release(group);
      this.emit(this.merged(group, result));
      return;
    }
    const attempt = attemptOf(result, n, outcomeClass(result.outcome) !== 'passed');
    if (!group.budget.add(group.attempts, attempt, 1)) return;
    const bytes = textBytes(attempt);
    group.bytes += bytes;
    this.heldAttempts++;
    this.heldBytes += bytes;
    while ((this.heldAttempts > MAX_HELD_ATTEMPTS || this.heldBytes > MAX_HELD_ATTEMPT_BYTES) && this.groups.size > 0) {
      // Publish the oldest test with the attempts it has; its later attempts start a new group.
      const [oldestKey, oldest] = this.groups.entries().next().value as [string, Group];
      this.groups.delete(oldestKey);
      this.release(oldest);
      this.split++;
      this.emitPartial(oldest);
    }
  }

  /** End of file: tests whose attempts did not all arrive (a hash collision, a changed file) are emitted as they are. */
  flush(): void {
    for (const group of this.groups.values()) {
      this.release(group);
      this.emitPartial(group);
    }
    this.groups.clear();
  }

  private release(group: Group): void {
    this.heldAttempts -= group.attempts.length;
    this.heldBytes -= group.bytes;
  }

  private merged(group: Group, last: TestResult): TestResult {
    const n = group.attempts.length + 1;
    const attempts = [...group.attempts, attemptOf(last, n, false)];
    const passed = outcomeClass(last.outcome) === 'passed';
    return {
      ...last,
      rerunKey: undefined,
      resultGroupType: 'Rerun',
      subResults: attempts,
      flaky: passed && group.anyFailed,
      durationMs: last.durationMs,
    };
  }

  /** A group cut short: its last held attempt stands for the test. */
  private emitPartial(group: Group): void {
    const attempts = group.attempts;
    if (attempts.length === 0) return;
    const last = attempts[attempts.length - 1];
    const passed = outcomeClass(last.outcome) === 'passed';
    this.emit({
      ...group.identity,
      outcome: last.outcome,
      durationMs: last.durationMs,
      startedDate: last.startedDate,
      completedDate: last.completedDate,
      computerName: last.computerName,
      errorMessage: last.errorMessage,
      stackTrace: last.stackTrace,
      resultGroupType: 'Rerun',
      subResults: attempts,
      flaky: passed && attempts.some((a) => outcomeClass(a.outcome) === 'failed'),
    });
  }
}
