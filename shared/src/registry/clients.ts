import type { Log } from '../log';
import { canonicalRegistry, sameRegistry } from '../reference/reference';
import type { RegistryCredentials } from './auth';
import { RegistryClient, type RegistryClientOptions } from './transport';

/** Credentials for one registry host, as a service connection provides them. */
export interface RegistryLogin {
  /** `host[:port]` as in image references; Docker Hub is `docker.io` (its aliases match too). */
  host: string;
  credentials: RegistryCredentials;
  /** Where these credentials come from, for messages, e.g. `input 'containerRegistry'`. */
  label?: string;
}

/** Transport settings shared by every client a verb creates (everything but the host, credentials and log). */
export type TransportOptions = Omit<RegistryClientOptions, 'registry' | 'credentials' | 'log'>;

/** The login for `registry`, matched case-insensitively with Docker Hub's aliases folded. */
export function loginFor(logins: readonly RegistryLogin[] | undefined, registry: string): RegistryLogin | undefined {
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
        log: this.log,
      });
      this.byHost.set(key, client);
    }
    return client;
  }
}
