import type { Log } from '../log';
import { canonicalRegistry, sameRegistry } from '../reference/reference';
import type { PasswordCredentials, RegistryCredentials } from './auth';
import { RegistryClient, type RegistryClientOptions } from './transport';

/** A login as the engine takes it (see {@link RegistryClient.passwordCredentials}). */
export type PasswordLogin = RegistryLogin<PasswordCredentials>;

/**
 * The one credential model: who signs in to one registry host, as a service connection provides it. `registry/`,
 * `docker/` (narrowed to what the engine takes: `RegistryLogin<PasswordCredentials>`) and `helm/` all take it; no
 * login at all is anonymous access.
 */
export interface RegistryLogin<C extends RegistryCredentials = RegistryCredentials> {
  /** `host[:port]` as in image references; Docker Hub is `docker.io` (its aliases match too). */
  host: string;
  credentials: C;
  /** Where these credentials come from, for messages, e.g. `input 'containerRegistry'`. */
  label?: string;
  /** The host is an Azure Container Registry (an ACR service connection or an Azure identity signs in to it). */
  acr?: boolean;
}

/** Transport settings shared by every client a verb creates (everything but the host, credentials and log). */
export type TransportOptions = Omit<RegistryClientOptions, 'registry' | 'credentials' | 'log'>;

/** The login for `registry`, matched case-insensitively with Docker Hub's aliases folded. */
export function loginFor<L extends { host: string }>(logins: readonly L[] | undefined, registry: string): L | undefined {
  return logins?.find((login) => sameRegistry(login.host, registry));
}

/**
 * Hands out one client per registry host: an existing one from `clients` when given, else a new one with the
 * matching login's credentials (or anonymous).
 */
export class RegistryClients {
  private readonly byHost = new Map<string, RegistryClient>();

  constructor(
    private readonly options: {
      logins?: readonly RegistryLogin[];
      transport?: TransportOptions;
      clients?: readonly RegistryClient[];
      /** For a host without a login: where one would be set, for messages. */
      missingLoginLabel?: (registry: string) => string | undefined;
    },
    private readonly log: Log,
  ) {
    for (const client of options.clients ?? []) this.byHost.set(canonicalRegistry(client.registry).toLowerCase(), client);
  }

  /** The client for `registry`. */
  for(registry: string): RegistryClient {
    const key = canonicalRegistry(registry).toLowerCase();
    let client = this.byHost.get(key);
    if (!client) {
      const login = loginFor(this.options.logins, registry);
      client = new RegistryClient({
        ...this.options.transport,
        registry,
        credentials: login?.credentials,
        credentialsLabel: login ? login.label : this.options.missingLoginLabel?.(registry),
        acr: login?.acr,
        log: this.log,
      });
      this.byHost.set(key, client);
    }
    return client;
  }
}

/**
 * `login` as the engine takes it: user name and password as they are; an Entra identity exchanged, through `client`
 * (a client for the login's host, made from `transport` when not given), for the null-GUID user and an ACR refresh
 * token. The exchange is the client's own, so a task that also calls the registry API exchanges once.
 */
export async function passwordLogin(
  login: RegistryLogin,
  options: { client?: RegistryClient; transport?: TransportOptions; log: Log },
): Promise<PasswordLogin> {
  if (login.credentials.kind !== 'entra') return { ...login, credentials: login.credentials };
  const client =
    options.client ??
    new RegistryClient({
      ...options.transport,
      registry: login.host,
      credentials: login.credentials,
      credentialsLabel: login.label,
      acr: login.acr,
      log: options.log,
    });
  const credentials = await client.passwordCredentials();
  if (!credentials) throw new Error(`the client for ${client.registry} has no credentials to hand to the engine`);
  return { ...login, credentials };
}
