import { canonicalRegistry, isLoopbackHost } from './reference';

/*
 * Registry-host rules beyond the reference grammar: a service connection's URL as a registry host, and which hosts
 * are Azure Container Registry login servers (where an Entra ID token may be sent). Pure: no I/O.
 */

/**
 * `https://index.docker.io/v1/` → `docker.io`; `myrepo.azurecr.io` → `myrepo.azurecr.io`; ports are kept, the host
 * is lower-cased, Docker Hub's aliases fold to `docker.io`. Undefined for an empty or unparsable value.
 */
export function registryHostFromUrl(url: string): string | undefined {
  const text = url.trim();
  if (!text) return undefined;
  let host: string;
  try {
    host = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`).host.toLowerCase();
  } catch {
    return undefined;
  }
  return host ? canonicalRegistry(host) : undefined;
}

/**
 * DNS suffixes of ACR login servers: the public cloud, Azure China (21Vianet) and Azure US Government, the list
 * docker-common checks a login server against before it sends an Entra token.
 */
export const ACR_LOGIN_SERVER_SUFFIXES = ['.azurecr.io', '.azurecr.cn', '.azurecr.us'] as const;

/** Which hosts may receive an Entra-derived token. */
export interface AcrHostRule {
  /**
   * Also admit loopback hosts (`127.0.0.1:5000`, `localhost`): the test seam the README documents (the pipeline
   * adapter sets it from `OUTERLOOP_TEST_ACR_ON_LOOPBACK`), never a production setting.
   */
  admitLoopback?: boolean;
}

/**
 * Why `host` (`name[:port]`) may not receive an Entra ID token or an ACR refresh token, or undefined when it may: it
 * must be an ACR login server (`<name>.azurecr.io`, `.azurecr.cn`, `.azurecr.us`, any port).
 */
export function acrHostProblem(host: string, rule: AcrHostRule = {}): string | undefined {
  const name = host.trim().toLowerCase().replace(/:\d+$/, '');
  if (rule.admitLoopback && isLoopbackHost(name)) return undefined;
  const suffix = ACR_LOGIN_SERVER_SUFFIXES.find((s) => name.endsWith(s));
  if (suffix && /^[a-z0-9][a-z0-9-]*$/.test(name.slice(0, -suffix.length))) return undefined;
  return `${host} is not an Azure Container Registry login server (${ACR_LOGIN_SERVER_SUFFIXES.map((s) => `*${s}`).join(', ')})`;
}
