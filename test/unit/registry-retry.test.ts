import { strict as assert } from 'node:assert';
import { RegistryError } from '../../shared/src/registry/errors';
import {
  BASE_DELAY_MS,
  DEFAULT_ATTEMPTS,
  isNetworkError,
  isRetryable,
  MAX_DELAY_MS,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  retryDelayMs,
  retryOptions,
  withRetry,
} from '../../shared/src/registry/retry';

function temporary(status: number, retryAfterMs?: number): RegistryError {
  return new RegistryError({ status, code: 'X', message: `status ${status}`, retryAfterMs });
}

/** A fetch-style network failure as undici reports it: TypeError('fetch failed') caused by a socket error. */
function fetchFailed(code: string): Error {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(`read ${code}`), { code }) });
}

describe('registry retry policy', () => {
  it('reads Retry-After as seconds or as an HTTP date, never negative', () => {
    const now = Date.parse('2026-03-01T10:00:00Z');
    assert.equal(parseRetryAfter('7', now), 7000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Sun, 01 Mar 2026 10:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Sun, 01 Mar 2026 09:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
    assert.equal(parseRetryAfter('', now), undefined);
  });

  it('backs off exponentially with jitter from the injected random source, capped', () => {
    const low = retryOptions({ random: () => 0 });
    const high = retryOptions({ random: () => 0.999999 });
    assert.deepEqual(
      [1, 2, 3].map((a) => retryDelayMs(a, low)),
      [BASE_DELAY_MS / 2, BASE_DELAY_MS, BASE_DELAY_MS * 2],
    );
    assert.deepEqual(
      [1, 2, 3].map((a) => retryDelayMs(a, high)),
      [BASE_DELAY_MS, BASE_DELAY_MS * 2, BASE_DELAY_MS * 4],
    );
    assert.equal(retryDelayMs(30, high), MAX_DELAY_MS);
    assert.equal(retryDelayMs(30, low), MAX_DELAY_MS / 2);
  });

  it('waits what Retry-After asks instead of the backoff, up to the cap', () => {
    const options = retryOptions({ random: () => 0.5 });
    assert.equal(retryDelayMs(1, options, 3000), 3000);
    assert.equal(retryDelayMs(1, options, 0), 0);
    assert.equal(retryDelayMs(1, options, 3_600_000), MAX_RETRY_AFTER_MS);
  });

  it('retries temporary failures until one succeeds, sleeping the computed delays', async () => {
    const delays: number[] = [];
    const failures = [temporary(503), temporary(429, 1500), fetchFailed('ECONNRESET')];
    const calls: number[] = [];
    const result = await withRetry(
      async (attempt) => {
        calls.push(attempt);
        const failure = failures.shift();
        if (failure) throw failure;
        return 'done';
      },
      retryOptions({ random: () => 0, sleep: async (ms) => void delays.push(ms) }),
    );
    assert.equal(result, 'done');
    assert.deepEqual(calls, [1, 2, 3, 4]);
    assert.deepEqual(delays, [BASE_DELAY_MS / 2, 1500, BASE_DELAY_MS * 2]);
  });

  it('gives up after the configured attempts and throws the last error', async () => {
    let calls = 0;
    const last = temporary(502);
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          throw calls === DEFAULT_ATTEMPTS ? last : temporary(503);
        },
        retryOptions({ sleep: async () => undefined }),
      ),
      (error) => error === last,
    );
    assert.equal(calls, DEFAULT_ATTEMPTS);
  });

  it('does not retry what a retry cannot cure', async () => {
    for (const error of [
      new RegistryError({ status: 401, code: 'UNAUTHORIZED', message: 'no' }),
      new RegistryError({ status: 404, code: 'MANIFEST_UNKNOWN', message: 'no' }),
      new RegistryError({ status: 0, code: 'DIGEST_MISMATCH', message: 'no', temporary: false }),
      new Error('a bug'),
    ]) {
      let calls = 0;
      await assert.rejects(
        withRetry(
          async () => {
            calls++;
            throw error;
          },
          retryOptions({ sleep: async () => assert.fail('must not wait') }),
        ),
        (e) => e === error,
      );
      assert.equal(calls, 1, error.message);
    }
  });

  it('stops waiting when the signal aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('the job was cancelled');
    let calls = 0;
    await assert.rejects(
      withRetry(
        async () => {
          calls++;
          controller.abort(reason);
          throw temporary(503);
        },
        retryOptions(),
        { signal: controller.signal },
      ),
      /status 503/,
    );
    assert.equal(calls, 1);
  });

  it('recognises dropped connections as network errors, through undici causes', () => {
    assert.equal(isNetworkError(fetchFailed('ECONNRESET')), true);
    assert.equal(isNetworkError(fetchFailed('UND_ERR_SOCKET')), true);
    assert.equal(isNetworkError(new Error('socket hang up')), true);
    assert.equal(isNetworkError(new TypeError('terminated', { cause: new Error('other side closed') })), true);
    assert.equal(isNetworkError(Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' })), true);
    assert.equal(isNetworkError(new Error('unexpected token in JSON')), false);
    assert.equal(isNetworkError(Object.assign(new Error('This operation was aborted'), { name: 'AbortError' })), false);
    assert.equal(isRetryable(temporary(500)), true);
    assert.equal(isRetryable(new RegistryError({ status: 0, code: 'NETWORK_ERROR', message: 'x' })), true);
  });
});
