import { RegistryError } from './errors';

/*
 * The one retry policy of the registry layer: which failures are worth another try, and how long to wait.
 * Temporary statuses (408, 429, 5xx) and dropped connections are retried with bounded, jittered exponential backoff;
 * a Retry-After header wins over the backoff, up to a cap.
 */

/** Five tries in all: with the delays below they span ~4 s, enough for a registry restart or a short 503/429 spell. */
export const DEFAULT_ATTEMPTS = 5;
/** First backoff: long enough not to hammer a struggling registry, short enough that one blip costs little. */
export const BASE_DELAY_MS = 250;
/** Longest backoff between two tries, so a run of failures never stalls a pipeline for long. */
export const MAX_DELAY_MS = 4_000;
/** Longest Retry-After we honour: a registry asking for more is better reported than waited on. */
export const MAX_RETRY_AFTER_MS = 30_000;

/** Error codes of dropped or refused connections, as Node's sockets and undici report them. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);
const NETWORK_ERROR_TEXT = /socket hang up|fetch failed|terminated|other side closed|network|ECONNRESET/i;

/** How the registry layer retries; every field has a default (see `retryOptions`). */
export interface RetryOptions {
  /** Total tries, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  maxRetryAfterMs: number;
  /** Uniform in [0, 1): jitter source, injectable so tests are deterministic. */
  random: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Milliseconds since the epoch, for Retry-After dates. */
  now: () => number;
}

/** The reason an aborted signal gives, as an Error (AbortSignal's reason may be any value). */
function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  return new Error(typeof reason === 'string' ? reason : 'aborted', { cause: reason });
}

/** Waits `ms`, or rejects at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The defaults, overridden by `overrides`. */
export function retryOptions(overrides: Partial<RetryOptions> = {}): RetryOptions {
  return {
    attempts: DEFAULT_ATTEMPTS,
    baseDelayMs: BASE_DELAY_MS,
    maxDelayMs: MAX_DELAY_MS,
    maxRetryAfterMs: MAX_RETRY_AFTER_MS,
    random: Math.random,
    sleep,
    now: Date.now,
    ...overrides,
  };
}

/**
 * Milliseconds a `Retry-After` value asks for: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Undefined when the
 * header is missing or unreadable; never negative.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (!text) return undefined;
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000;
  // An HTTP-date names its day and month; anything else (`-5`, `1.5`) is not one, whatever Date.parse thinks.
  if (!/^[A-Za-z]{3,9},?\s/.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/**
 * Delay before try `attempt + 1` (attempt counts from 1): the capped Retry-After when the registry sent one,
 * else exponential backoff with "equal jitter" (half fixed, half random) capped at `maxDelayMs`.
 */
export function retryDelayMs(attempt: number, options: RetryOptions, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return Math.min(retryAfterMs, options.maxRetryAfterMs);
  const exponential = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exponential / 2 + (exponential / 2) * options.random());
}

/** True for failures of the connection itself (reset, refused, hang-up, truncated body), which a retry may cure. */
export function isNetworkError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (typeof e !== 'object') break;
    const { code, name, message } = e as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true;
    if (name === 'TimeoutError') return true;
    if (typeof message === 'string' && NETWORK_ERROR_TEXT.test(message) && name !== 'AbortError') return true;
  }
  return false;
}

/** True when another try may succeed: a temporary RegistryError or a network failure. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof RegistryError) return error.temporary;
  return isNetworkError(error);
}

/** Milliseconds the error's response asked us to wait (Retry-After), when it carried one. */
export function retryAfterOf(error: unknown): number | undefined {
  const value = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof value === 'number' ? value : undefined;
}

/** What `withRetry` tells its observer before it waits. */
export interface RetryNotice {
  attempt: number;
  delayMs: number;
  error: unknown;
}

/**
 * Runs `action` until it succeeds, fails with an error that is not retryable, or `options.attempts` tries are used.
 * The last error is thrown as it is. `signal` aborts the waiting.
 */
export async function withRetry<T>(
  action: (attempt: number) => Promise<T>,
  options: RetryOptions,
  hooks: { signal?: AbortSignal; onRetry?: (notice: RetryNotice) => void; retryable?: (error: unknown) => boolean } = {},
): Promise<T> {
  const retryable = hooks.retryable ?? isRetryable;
  for (let attempt = 1; ; attempt++) {
    try {
      return await action(attempt);
    } catch (error) {
      if (attempt >= options.attempts || hooks.signal?.aborted || !retryable(error)) throw error;
      const delayMs = retryDelayMs(attempt, options, retryAfterOf(error));
      hooks.onRetry?.({ attempt, delayMs, error });
      await options.sleep(delayMs, hooks.signal);
    }
  }
}
