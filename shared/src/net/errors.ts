import type { NetworkOptions, NetworkSettingNames, ProxyServer } from './network';
import { proxyFor } from './route';

/*
 * Failures of the connection itself (no HTTP response to judge), in one line that names the setting to fix.
 */

const DEFAULT_SETTING_NAMES: NetworkSettingNames = {
  proxy: 'HTTPS_PROXY',
  bypass: 'NO_PROXY',
  ca: 'the trusted CA file',
  skipCertValidation: 'the option to skip certificate validation',
  clientCertificate: 'the client certificate',
};

function settingNames(options: NetworkOptions | undefined): NetworkSettingNames {
  return { ...DEFAULT_SETTING_NAMES, ...options?.settings };
}

/** A proxy refused or failed a request: unreachable, 407 (credentials), or an error status for the tunnel. */
export class ProxyError extends Error {
  readonly status?: number;
  readonly code: string;
  /** Whether another try may succeed (the proxy was down or answered 502/503/504). */
  readonly temporary: boolean;

  constructor(
    readonly proxy: ProxyServer,
    /** `host:port` the request was for. */
    readonly target: string,
    answer: { status?: number; statusText?: string; cause?: Error },
  ) {
    const where = `the proxy ${new URL(proxy.url).origin} (${proxy.setting})`;
    let message: string;
    if (answer.status === 407) {
      message = proxy.username
        ? `${where} refused the credentials of user '${proxy.username}': 407 ${answer.statusText || 'Proxy Authentication Required'}; check ${proxy.credentialsSetting}`
        : `${where} asks for credentials: 407 ${answer.statusText || 'Proxy Authentication Required'}; set ${proxy.credentialsSetting}`;
    } else if (answer.status !== undefined) {
      message = `${where} answered ${answer.status} ${answer.statusText ?? ''} for ${target}`.replace(/\s+/g, ' ').trim();
    } else {
      message = `could not connect to ${where}: ${describeNetworkError(answer.cause)}`;
    }
    super(message, { cause: answer.cause });
    this.name = 'ProxyError';
    this.status = answer.status;
    this.code = answer.status === 407 ? 'PROXY_AUTH_REQUIRED' : 'PROXY_ERROR';
    this.temporary = answer.status === undefined || [502, 503, 504].includes(answer.status);
  }
}

/** Describes a low-level failure: code and message of the error and its causes (undici nests the socket error). */
export function describeNetworkError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    const said = typeof message === 'string' ? message : '';
    const text = typeof code === 'string' && !said.includes(code) ? `${code} ${said}`.trim() : said;
    if (text && !parts.includes(text)) parts.push(text);
  }
  return parts.join(': ') || String(error);
}

/** OpenSSL's verdicts for a chain that does not end at a trusted CA. */
const UNTRUSTED_CERTIFICATE = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);
const INVALID_CERTIFICATE = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED']);
/**
 * TLS alerts a server sends when it wants a client certificate it did not get, or does not accept the one it got
 * (OpenSSL 3.0, in Node 20, names them SSLV3_/TLSV1_/TLSV13_ALERT_…; OpenSSL 3.5, in Node 24, SSL/TLS_ALERT_…).
 */
const CLIENT_CERTIFICATE_REFUSED =
  /^ERR_SSL_(SSLV3|TLSV1|TLSV13|SSL\/TLS)_ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|ACCESS_DENIED)$/;
const UNRESOLVED = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);

/** A request that ran out of time at one stage; `code` is undici's name for the same limit. */
export class NetworkTimeoutError extends Error {
  override name = 'NetworkTimeoutError';
  constructor(
    readonly code: 'UND_ERR_CONNECT_TIMEOUT' | 'UND_ERR_HEADERS_TIMEOUT' | 'UND_ERR_BODY_TIMEOUT',
    readonly host: string,
    readonly ms: number,
  ) {
    const seconds = `${Math.round(ms / 100) / 10} s`;
    super(
      code === 'UND_ERR_CONNECT_TIMEOUT'
        ? `no connection to ${host} within ${seconds}`
        : code === 'UND_ERR_HEADERS_TIMEOUT'
          ? `${host} took the request but sent no response within ${seconds}`
          : `${host} stopped sending the response for ${seconds}`,
    );
  }
}

/** A failed connection in one line, and whether another try may succeed. */
export interface ConnectionFailure {
  message: string;
  temporary: boolean;
}

/**
 * What went wrong with a request to `url` that got no response, in one line that names the setting to fix: a proxy
 * that refused the credentials or could not be reached, a certificate not trusted, a client certificate wanted, a
 * host name that does not resolve where a proxy may be needed. Anything else: the error chain, as a temporary failure.
 */
export function describeConnectionFailure(error: unknown, url: string, options: NetworkOptions | undefined): ConnectionFailure {
  const names = settingNames(options);
  let target: URL | undefined;
  try {
    target = new URL(url);
  } catch {
    target = undefined;
  }
  const host = target?.host ?? url;
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ProxyError) return { message: e.message, temporary: e.temporary };
    // A host silent at connect or after the request is not retried (it would multiply the wait); a stalled body is.
    if (e instanceof NetworkTimeoutError) return { message: e.message, temporary: e.code === 'UND_ERR_BODY_TIMEOUT' };
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (UNTRUSTED_CERTIFICATE.has(code)) {
      return {
        message: `the certificate of ${host} is not trusted (${code}): add its CA to ${names.ca} (or set ${names.skipCertValidation})`,
        temporary: false,
      };
    }
    if (INVALID_CERTIFICATE.has(code)) {
      const { reason, message } = e as { reason?: unknown; message?: unknown };
      const why = typeof reason === 'string' ? reason : typeof message === 'string' ? message : '';
      return {
        message: `the certificate of ${host} is not valid for it (${code}${why ? `: ${why}` : ''}); fix the certificate (or set ${names.skipCertValidation})`,
        temporary: false,
      };
    }
    if (CLIENT_CERTIFICATE_REFUSED.test(code)) {
      const offered = Boolean(options?.tls?.certFile);
      return {
        message: offered
          ? `${host} refused the client certificate of ${names.clientCertificate} (${code})`
          : `${host} asks for a client certificate (${code}): set ${names.clientCertificate}`,
        temporary: false,
      };
    }
    if (UNRESOLVED.has(code) && target) {
      const configured = target.protocol === 'https:' ? options?.httpsProxy : options?.httpProxy;
      const hint = proxyFor(target, options)
        ? ''
        : configured
          ? `; it is reached directly (${names.bypass}): should it go through the proxy?`
          : `: is a proxy needed (${names.proxy})?`;
      return { message: `could not resolve ${target.hostname} (${code})${hint}`, temporary: code === 'EAI_AGAIN' };
    }
  }
  return { message: describeNetworkError(error), temporary: true };
}
