/*
 * Typed registry errors. The body of a failed registry response is the distribution error envelope
 * (`{"errors":[{"code","message","detail"}]}`, OCI distribution-spec "Error Codes"); HEAD responses and proxies often
 * send none, so the status alone gives a code then.
 */

/** One entry of the distribution error envelope. */
export interface RegistryErrorDetail {
  code: string;
  message: string;
  detail?: unknown;
}

/** Codes for statuses that came without a distribution error body. */
const STATUS_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'DENIED',
  404: 'NOT_FOUND',
  405: 'UNSUPPORTED',
  408: 'TIMEOUT',
  409: 'CONFLICT',
  413: 'SIZE_INVALID',
  416: 'RANGE_INVALID',
  429: 'TOOMANYREQUESTS',
  500: 'INTERNAL_ERROR',
  502: 'BAD_GATEWAY',
  503: 'UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
};

/** Query parameters whose values say nothing secret and help a reader (the rest, e.g. `_state`, signatures, are redacted). */
const PLAIN_QUERY_KEYS = new Set(['digest', 'mount', 'from', 'service', 'scope', 'n', 'last']);

/** At most this much of an error body is read: enough for any envelope, bounded against a hostile server. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** True for the statuses a retry may cure: 408, 429 and 5xx (except 501, which no retry changes). */
export function isTemporaryStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501);
}

/**
 * A URL safe to print: no user info, and every query value redacted except the few that identify what was asked
 * (`digest`, `mount`, `from`, `service`, `scope`, …). Upload locations carry opaque state and storage redirects carry
 * signatures, so the default is to hide.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/\?.*$/s, '?…');
  }
  parsed.username = '';
  parsed.password = '';
  parsed.hash = '';
  const query = [...parsed.searchParams.entries()]
    .map(
      ([key, value]) =>
        `${encodeURIComponent(key)}=${PLAIN_QUERY_KEYS.has(key) ? encodeURIComponent(value).replace(/%3A/gi, ':').replace(/%2F/gi, '/').replace(/%2C/gi, ',') : 'REDACTED'}`,
    )
    .join('&');
  parsed.search = '';
  return query ? `${parsed.toString()}?${query}` : parsed.toString();
}

/** The distribution error envelope in `body`, or undefined when the body is not one. */
export function parseErrorBody(body: string): RegistryErrorDetail[] | undefined {
  const text = body.trim();
  if (!text.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(text) as { errors?: unknown; details?: unknown };
    if (!Array.isArray(parsed.errors)) return undefined;
    const errors: RegistryErrorDetail[] = [];
    for (const entry of parsed.errors) {
      if (!entry || typeof entry !== 'object') continue;
      const e = entry as { code?: unknown; message?: unknown; detail?: unknown };
      errors.push({
        code: typeof e.code === 'string' && e.code ? e.code.toUpperCase() : 'UNKNOWN',
        message: typeof e.message === 'string' ? e.message : '',
        detail: e.detail,
      });
    }
    return errors.length > 0 ? errors : undefined;
  } catch {
    return undefined;
  }
}

/** A short, single-line rendering of a non-envelope body (HTML error pages, plain text). */
function bodySnippet(body: string): string {
  const text = body
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** The code a status implies when the body does not give one. */
export function codeForStatus(status: number): string {
  return STATUS_CODES[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : `HTTP_${status}`);
}

/** Fields of a RegistryError; `temporary` defaults from the status. */
export interface RegistryErrorInit {
  status: number;
  code: string;
  message: string;
  /** Any URL: it is redacted here. */
  url?: string;
  method?: string;
  errors?: RegistryErrorDetail[];
  temporary?: boolean;
  /** What the response's Retry-After asked for, in milliseconds. */
  retryAfterMs?: number;
  /** Text prepended to the message: the verb and object, e.g. `promote a:1 → prod/a: put manifest prod/a:1`. */
  context?: string;
  cause?: unknown;
}

/**
 * A failed registry request. `message` is one line: `[context: ]<status> <code>: <registry message> (<METHOD> <url>)`,
 * with the URL redacted. `temporary` says whether a retry may succeed (408, 429, 5xx, dropped connections).
 */
export class RegistryError extends Error {
  /** HTTP status; 0 when no response arrived (connection reset, DNS, timeout). */
  readonly status: number;
  /** Distribution error code of the first error (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, `DENIED`, …). */
  readonly code: string;
  /** The request URL, redacted (no credentials, no opaque query values). */
  readonly url: string;
  readonly method: string;
  /** Every entry of the error envelope. */
  readonly errors: RegistryErrorDetail[];
  readonly temporary: boolean;
  /** The registry's own message (or the cause), without context, status or URL. */
  readonly detail: string;
  readonly context: string;
  /** What the response's Retry-After asked for, in milliseconds (429/503). */
  readonly retryAfterMs?: number;

  constructor(init: RegistryErrorInit) {
    const url = init.url ? redactUrl(init.url) : '';
    const where = init.method || url ? ` (${[init.method, url].filter(Boolean).join(' ')})` : '';
    const head = init.status ? `${init.status} ${init.code}` : init.code;
    const detail = init.message.replace(/\s+/g, ' ').trim();
    super(`${init.context ? `${init.context}: ` : ''}${head}${detail ? `: ${detail}` : ''}${where}`, { cause: init.cause });
    this.name = 'RegistryError';
    this.status = init.status;
    this.code = init.code;
    this.url = url;
    this.method = init.method ?? '';
    this.errors = init.errors ?? [{ code: init.code, message: detail }];
    this.temporary = init.temporary ?? (init.status === 0 || isTemporaryStatus(init.status));
    this.detail = detail;
    this.context = init.context ?? '';
    this.retryAfterMs = init.retryAfterMs;
  }

  /** The same error with `context` (verb and object) in front of what it already says. */
  withContext(context: string): RegistryError {
    return new RegistryError({
      status: this.status,
      code: this.code,
      message: this.detail,
      url: this.url,
      method: this.method,
      errors: this.errors,
      temporary: this.temporary,
      retryAfterMs: this.retryAfterMs,
      context: this.context ? `${context}: ${this.context}` : context,
      cause: this.cause,
    });
  }

  /** Builds the error for a response: its envelope if it has one, else the status and a snippet of the body. */
  static fromResponse(init: {
    status: number;
    body: string;
    url: string;
    method: string;
    hint?: string;
    context?: string;
    retryAfterMs?: number;
  }): RegistryError {
    const errors = parseErrorBody(init.body);
    const code = errors?.[0].code ?? codeForStatus(init.status);
    let message = errors
      ? errors.map((e, i) => (i === 0 ? e.message || e.code.toLowerCase() : `${e.code}: ${e.message}`)).join('; ')
      : bodySnippet(init.body);
    if (init.hint) message = message ? `${message}; ${init.hint}` : init.hint;
    return new RegistryError({
      status: init.status,
      code,
      message,
      url: init.url,
      method: init.method,
      errors,
      context: init.context,
      retryAfterMs: init.retryAfterMs,
    });
  }
}

/** Adds `context` to a RegistryError (keeping its type and `temporary`); other errors get it as a message prefix. */
export function withContext(error: unknown, context: string): Error {
  if (error instanceof RegistryError) return error.withContext(context);
  if (error instanceof Error) {
    const wrapped = new Error(`${context}: ${error.message}`, { cause: error });
    wrapped.name = error.name;
    return wrapped;
  }
  return new Error(`${context}: ${String(error)}`);
}
