import * as tl from 'azure-pipelines-task-lib/task';
import { InputError, type InputSource } from './inputs';
import { registerSecret } from './secrets';

/** A registry host and the credentials a Docker Registry service connection holds for it. */
export interface RegistryConnection {
  /** `host[:port]` as used in image references; Docker Hub is `docker.io`. */
  host: string;
  credentials: { username: string; password: string };
}

const dockerHubAliases = new Set(['index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com', 'docker.io']);

/** `https://index.docker.io/v1/` → `docker.io`; `myrepo.azurecr.io` → `myrepo.azurecr.io`; ports are kept. */
export function registryHostFromUrl(url: string): string | undefined {
  const text = url.trim();
  if (!text) return undefined;
  let host: string;
  try {
    host = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`).host.toLowerCase();
  } catch {
    return undefined;
  }
  return dockerHubAliases.has(host) ? 'docker.io' : host;
}

/**
 * Reads the Docker Registry service connection named by input `inputName` (the built-in `dockerregistry` type:
 * `Others` with UsernamePassword, or `ACR` with a service principal, whose id and secret are Basic credentials at the
 * token realm). Returns undefined when the input is empty: the registry is then used anonymously. The password and its
 * base64 `user:pass` form are masked in the task's output before anything else happens.
 */
export function readRegistryConnection(inputs: InputSource, inputName: string): RegistryConnection | undefined {
  const id = inputs.get(inputName)?.trim();
  if (!id) return undefined;
  // Not getEndpointAuthorizationParameter: task-lib writes each parameter's value, password included, to a debug line.
  let auth: { scheme?: string; parameters?: Record<string, string> } | undefined;
  try {
    auth = tl.getEndpointAuthorization(id, true);
  } catch {
    throw new InputError(inputName, `names service connection '${id}', whose authorization the agent passed malformed: re-save the connection`);
  }
  if (!auth) {
    throw new InputError(inputName, `names service connection '${id}', which this job cannot see: check the connection and its pipeline permissions`);
  }
  const parameters = new Map(Object.entries(auth.parameters ?? {}).map(([key, value]) => [key.toLowerCase(), String(value ?? '')]));
  const param = (key: string) => parameters.get(key.toLowerCase()) ?? '';
  const registryType = tl.getEndpointDataParameter(id, 'registrytype', true) ?? 'Others';
  const endpointUrl = process.env[`ENDPOINT_URL_${id}`] ?? '';

  const isAcr = registryType.toUpperCase() === 'ACR' || (auth.scheme ?? '').toLowerCase() === 'serviceprincipal';
  const host = registryHostFromUrl(isAcr ? param('loginServer') || endpointUrl : param('registry') || endpointUrl);
  const username = isAcr ? param('serviceprincipalid') : param('username');
  const password = isAcr ? param('serviceprincipalkey') : param('password');
  registerSecret(password);
  registerSecret(Buffer.from(`${username}:${password}`).toString('base64'));
  if (!host) throw new InputError(inputName, `service connection '${id}' has no registry URL: edit the connection and set its Docker Registry`);
  if (!username || !password) {
    throw new InputError(inputName, `service connection '${id}' has no user name or password: edit the connection and set both`);
  }
  return { host, credentials: { username, password } };
}
