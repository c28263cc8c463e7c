import { EngineStreamError } from './events';

/*
 * Which engine push failures are worth another push. Docker 20.10 reports a failed push only as text, in the
 * progress stream's `errorDetail.message` (no status code, no Retry-After), so the registry layer's retry policy
 * (registry/retry.ts) is fed by this classifier of the engine's known messages.
 *
 * The wording comes from the engine's distribution client (docker/distribution `registry/client/errors.go`:
 * `received unexpected HTTP status: %s` for any status outside 400-499; `registry/api/errcode`: a 4xx error body
 * becomes `<code in lower case, _ as space>: <message>`) and from Go's net/http (`Put "<url>": EOF`). Every example
 * below was produced by Docker 20.10 pushing through test/support/fault-proxy.ts in front of a real registry
 * (test/integration/docker-push.test.ts) unless its `source` says it is the registry error code as the engine formats
 * it (`errcode`) or Go's own text for that fault (`go`).
 * The engine already retries each layer upload itself (5 tries); these rules decide whether the whole push,
 * manifest included, is tried again.
 */

/** One kind of engine push failure: how to recognise it, whether it is temporary, and a real example. */
export interface EnginePushErrorRule {
  name: string;
  pattern: RegExp;
  temporary: boolean;
  example: string;
  /** Where the example comes from: seen from Docker 20.10 in our tests, or the formatting rule of errcode or Go. */
  source: 'engine' | 'errcode' | 'go';
}

/** Checked in order; the first match decides. Permanent rules come first, so `denied: … 503 …` stays permanent. */
export const ENGINE_PUSH_ERROR_RULES: readonly EnginePushErrorRule[] = [
  {
    name: 'unauthorized',
    pattern: /^unauthorized:|no basic auth credentials/i,
    temporary: false,
    example: 'unauthorized: authentication required',
    source: 'engine',
  },
  {
    name: 'denied',
    pattern: /^denied:/i,
    temporary: false,
    example: 'denied: requested access to the resource is denied',
    source: 'engine',
  },
  {
    name: 'refused request',
    pattern: /^(name unknown|name invalid|manifest invalid|manifest blob unknown|tag invalid|unsupported|digest invalid|size invalid):/i,
    temporary: false,
    example: 'manifest invalid: manifest invalid',
    source: 'errcode',
  },
  {
    name: 'TLS or protocol mismatch',
    pattern: /x509: |server gave HTTP response to HTTPS client|tls: /i,
    temporary: false,
    example: 'Get "https://127.0.0.1:5000/v2/": http: server gave HTTP response to HTTPS client',
    source: 'go',
  },
  {
    name: 'server error or throttling status',
    pattern: /^received unexpected HTTP status: (?:5\d\d|429|408)\b/i,
    temporary: true,
    example: 'received unexpected HTTP status: 503 Service Unavailable',
    source: 'engine',
  },
  {
    name: 'throttled or unavailable (error body)',
    pattern: /^(toomanyrequests|unavailable):/i,
    temporary: true,
    example: 'toomanyrequests: fault proxy: injected 429',
    source: 'engine',
  },
  {
    name: 'upload session lost',
    pattern: /^blob upload unknown:/i,
    temporary: true,
    example: 'blob upload unknown: blob upload unknown to registry',
    source: 'errcode',
  },
  {
    name: 'connection dropped',
    pattern: /: (?:unexpected )?EOF$|connection reset by peer|broken pipe|http2: server sent GOAWAY/i,
    temporary: true,
    example: 'Put "http://127.0.0.1:37521/v2/team/app/manifests/1": EOF',
    source: 'engine',
  },
  {
    name: 'connection refused',
    pattern: /connect: connection refused/i,
    temporary: true,
    example: 'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
    source: 'engine',
  },
  {
    name: 'timeout',
    pattern: /i\/o timeout|TLS handshake timeout|Client\.Timeout exceeded|timeout awaiting response headers/i,
    temporary: true,
    example: 'Get "https://myacr.azurecr.io/v2/": net/http: TLS handshake timeout',
    source: 'go',
  },
  {
    name: 'name resolution',
    pattern: /Temporary failure in name resolution|server misbehaving/i,
    temporary: true,
    example: 'Get "https://myacr.azurecr.io/v2/": dial tcp: lookup myacr.azurecr.io: Temporary failure in name resolution',
    source: 'go',
  },
];

/** The rule an engine push message matches, if any. Unknown messages are treated as permanent. */
export function classifyEnginePushMessage(message: string): EnginePushErrorRule | undefined {
  const text = message.trim();
  return ENGINE_PUSH_ERROR_RULES.find((rule) => rule.pattern.test(text));
}

/**
 * Whether another push may succeed: only for an error the engine reported in the push's progress stream
 * ({@link EngineStreamError} with its event) whose message matches a temporary rule. A broken connection to the
 * engine itself is not a registry fault and is not retried.
 */
export function isTemporaryEnginePushError(error: unknown): boolean {
  if (!(error instanceof EngineStreamError) || !error.event) return false;
  return classifyEnginePushMessage(error.message)?.temporary ?? false;
}
