import type { NetworkOptions } from '../net/network';
import { acrHostProblem } from '../reference/hosts';
import { postTokenForm, readLimitedText, type EntraCredentials } from './auth';
import { RegistryError } from './errors';
import { parseRetryAfter } from './retry';

/*
 * Azure Container Registry's token exchange (Azure/acr docs/AAD-OAuth.md, "Calling POST /oauth2/exchange"): an Entra
 * ID access token for the ACR audience is traded for an ACR refresh token at the origin of the registry's token realm
 * (on ACR, the login server itself). The refresh token then buys access tokens per scope set (auth.ts, requestToken)
 * and is what the Docker engine gets as the password of the null-GUID user. Microsoft's docker-common does the same
 * exchange for its ACR connections; unlike it, nothing here writes a token to a file or prints it as a variable.
 */

/** What `exchangeForRefreshToken` needs. */
export interface ExchangeRequest {
  fetch: typeof globalThis.fetch;
  /** The transport's proxy and certificate settings, for the token source's messages. */
  network?: NetworkOptions;
  credentials: EntraCredentials;
  /** The realm of the registry's Bearer challenge; the exchange is at its origin. */
  realm: string;
  /** The challenge's `service` (on ACR, the login server). */
  service?: string;
  /** The registry host, for messages. */
  registry: string;
  /** Where the credentials come from, for messages (`input 'azureSubscriptionEndpoint'`). */
  label?: string;
  now: () => number;
  signal?: AbortSignal;
  userAgent?: string;
  /** Called with every secret as soon as it is known (the Entra token, the refresh token). */
  secret: (value: string) => void;
}

/** Refuses an Entra-derived token to a host that is not an ACR login server (docker-common's host check). */
export function assertAcrHost(host: string, credentials: EntraCredentials, label: string | undefined, what: string): void {
  const problem = acrHostProblem(host, { admitLoopback: credentials.admitLoopback });
  if (!problem) return;
  throw new RegistryError({
    status: 0,
    code: 'NOT_ACR',
    message: `${credentials.identity}${label ? ` (${label})` : ''} signs in with Entra ID, whose tokens go only to Azure Container Registry: ${problem}, so ${what} is refused`,
    temporary: false,
  });
}

/**
 * Gets an Entra token from the credentials and exchanges it at `<realm origin>/oauth2/exchange`
 * (`grant_type=access_token`, `service`, `tenant`, `access_token`) for an ACR refresh token. Both tokens are handed to
 * `secret` before anything could print them. Throws RegistryError naming the identity on refusal.
 */
export async function exchangeForRefreshToken(request: ExchangeRequest): Promise<string> {
  const realm = new URL(request.realm);
  assertAcrHost(request.registry, request.credentials, request.label, `signing in to ${request.registry}`);
  assertAcrHost(realm.host, request.credentials, request.label, `the token realm ${realm.origin} the registry ${request.registry} names`);
  const url = `${realm.origin}/oauth2/exchange`;
  const accessToken = await request.credentials.accessToken({ fetch: request.fetch, network: request.network, signal: request.signal });
  request.secret(accessToken);
  const form = new URLSearchParams({ grant_type: 'access_token' });
  if (request.service) form.set('service', request.service);
  if (request.credentials.tenant) form.set('tenant', request.credentials.tenant);
  form.set('access_token', accessToken);
  const response = await postTokenForm(request.fetch, url, form, request);
  const text = await readLimitedText(response, 1024 * 1024);
  const who = `${request.credentials.identity}${request.label ? ` (${request.label})` : ''}`;
  if (response.status !== 200) {
    const hint =
      response.status === 401 || response.status === 403
        ? `${request.registry} refused the Entra token of ${who}: the identity needs a role on the registry (AcrPull to pull, AcrPush to push) in tenant ${request.credentials.tenant ?? "(the registry's)"}`
        : `exchanging the Entra token of ${who} for an ACR refresh token failed`;
    throw RegistryError.fromResponse({
      status: response.status,
      body: text,
      url,
      method: 'POST',
      hint,
      retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), request.now()),
    });
  }
  let refreshToken: unknown;
  try {
    refreshToken = (JSON.parse(text) as { refresh_token?: unknown }).refresh_token;
  } catch {
    refreshToken = undefined;
  }
  if (typeof refreshToken !== 'string' || !refreshToken) {
    throw new RegistryError({
      status: 200,
      code: 'BAD_TOKEN_RESPONSE',
      message: `${request.registry} answered the exchange for ${who} without a refresh_token`,
      url,
      method: 'POST',
      temporary: false,
    });
  }
  request.secret(refreshToken);
  return refreshToken;
}
