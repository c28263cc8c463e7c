import { taskLib } from './agent';
import { PUBLIC_CLOUD_AUTHORITY } from '../auth/entra';
import { acrHostProblem, registryHostFromUrl } from '../reference/hosts';
import { printable } from '../reference/reference';
import type { RegistryLogin } from '../registry/clients';
import { acrOnLoopback, certificateCredentials, managedIdentityCredentials, maskCertificate, workloadIdentityCredentials } from './azure';
import { InputError, readPick, readString, type InputSource } from './inputs';
import { registerSecret } from './secrets';

export { registryHostFromUrl } from '../reference/hosts';

/*
 * Service connections → the core's one login type. Two connection types sign in to a registry: Docker Registry
 * (`containerRegistry`: Others with UsernamePassword; ACR with ServicePrincipal, WorkloadIdentityFederation or
 * ManagedServiceIdentity) and Azure Resource Manager (`azureSubscriptionEndpoint` + `azureContainerRegistry`, as
 * Docker@1 took them: ServicePrincipal with a secret or a certificate, WorkloadIdentityFederation,
 * ManagedServiceIdentity). A service principal's secret signs in with Basic at the token realm, as Microsoft's
 * docker-common does; every other Azure identity is exchanged for an ACR token (azure.ts, registry/acr.ts).
 */

/** A login a service connection gives: host, credentials and the input it came from (as `label`). */
export type RegistryConnection = RegistryLogin;

/** The inputs of one side's sign-in: one way at a time, which the classic editor shows by `connectionType`. */
export interface SignInInputs {
  /** A Docker Registry connection (`connectedService:dockerregistry`). */
  dockerRegistry: string;
  /** An Azure Resource Manager connection (`connectedService:AzureRM`). */
  azureSubscription: string;
  /** The login server the AzureRM connection signs in to (or the classic editor's `{"loginServer": …, "id": …}`). */
  azureRegistry: string;
  /** Which of the two when both are set (the classic editor keeps a hidden input's value). */
  connectionType: string;
}

/** The source side (every registry task). */
export const SIGN_IN_INPUTS: SignInInputs = {
  dockerRegistry: 'containerRegistry',
  azureSubscription: 'azureSubscriptionEndpoint',
  azureRegistry: 'azureContainerRegistry',
  connectionType: 'connectionType',
};

/** PromoteImage's target side. */
export const TARGET_SIGN_IN_INPUTS: SignInInputs = {
  dockerRegistry: 'targetContainerRegistry',
  azureSubscription: 'targetAzureSubscriptionEndpoint',
  azureRegistry: 'targetAzureContainerRegistry',
  connectionType: 'targetConnectionType',
};

/** The values of `connectionType`. */
export const CONNECTION_TYPES = ['dockerRegistry', 'azureResourceManager'] as const;

/** What the agent hands a task about one service connection. */
interface Endpoint {
  id: string;
  input: string;
  /** Lower case; empty when the agent gave none. */
  scheme: string;
  param(key: string): string;
  data(key: string): string;
  url: string;
}

function readEndpoint(inputs: InputSource, input: string): Endpoint | undefined {
  const id = readString(inputs, input);
  if (!id) return undefined;
  // Not getEndpointAuthorizationParameter: task-lib writes each parameter's value, password included, to a debug line.
  let auth: { scheme?: string; parameters?: Record<string, string> } | undefined;
  try {
    auth = taskLib().getEndpointAuthorization(id, true);
  } catch {
    throw new InputError(input, `names service connection '${id}', whose authorization the agent passed malformed: re-save the connection`);
  }
  if (!auth) {
    throw new InputError(
      input,
      `names service connection '${id}', which this job cannot see: check the connection and its pipeline permissions`,
    );
  }
  const parameters = new Map(Object.entries(auth.parameters ?? {}).map(([key, value]) => [key.toLowerCase(), String(value ?? '')]));
  return {
    id,
    input,
    scheme: (auth.scheme ?? '').trim().toLowerCase(),
    param: (key) => parameters.get(key.toLowerCase())?.trim() ?? '',
    data: (key) => taskLib().getEndpointDataParameter(id, key, true)?.trim() ?? '',
    url: process.env[`ENDPOINT_URL_${id}`] ?? '',
  };
}

function required(endpoint: Endpoint, key: string, what: string): string {
  const value = endpoint.param(key);
  if (!value)
    throw new InputError(endpoint.input, `names service connection '${endpoint.id}', which has no ${what} (${key}): edit the connection`);
  return value;
}

function maskPassword(username: string, password: string): void {
  registerSecret(password);
  registerSecret(Buffer.from(`${username}:${password}`).toString('base64'));
}

/** A user name and password login; both must be there (masked first, whatever else is wrong). */
function passwordLogin(endpoint: Endpoint, host: string, username: string, password: string): RegistryLogin {
  maskPassword(username, password);
  if (!username || !password) {
    throw new InputError(
      endpoint.input,
      `service connection '${endpoint.id}' has no user name or password: edit the connection and set both`,
    );
  }
  return { host, credentials: { username, password }, label: `input '${endpoint.input}'` };
}

/**
 * The host, refused unless it is an ACR login server (or loopback under the README's test seam). `subject` starts the
 * message after the input's name: what the input holds.
 */
function acrHost(input: string, host: string | undefined, subject: string): string {
  if (!host) throw new InputError(input, `${subject}, which names no registry login server: set it (e.g. myacr.azurecr.io)`);
  const problem = acrHostProblem(host, { admitLoopback: acrOnLoopback() });
  if (problem) throw new InputError(input, `${subject}, but ${problem}: Azure identities sign in to Azure Container Registry only`);
  return host;
}

const UNSUPPORTED = (endpoint: Endpoint, schemes: string) =>
  new InputError(
    endpoint.input,
    `names service connection '${endpoint.id}' with scheme '${endpoint.scheme}', which this task cannot sign in with (it takes ${schemes})`,
  );

/** A Docker Registry connection: Others (user name and password), or ACR (service principal, federation, managed identity). */
function dockerRegistryLogin(endpoint: Endpoint): RegistryLogin {
  const registryType = endpoint.data('registrytype') || 'Others';
  const acrSchemes = ['serviceprincipal', 'workloadidentityfederation', 'managedserviceidentity'];
  const isAcr = registryType.toUpperCase() === 'ACR' || acrSchemes.includes(endpoint.scheme);
  if (!isAcr) {
    if (endpoint.scheme && endpoint.scheme !== 'usernamepassword') throw UNSUPPORTED(endpoint, 'UsernamePassword');
    const host = registryHostFromUrl(endpoint.param('registry') || endpoint.url);
    maskPassword(endpoint.param('username'), endpoint.param('password'));
    if (!host)
      throw new InputError(
        endpoint.input,
        `service connection '${endpoint.id}' has no registry URL: edit the connection and set its Docker Registry`,
      );
    return passwordLogin(endpoint, host, endpoint.param('username'), endpoint.param('password'));
  }
  return { ...acrConnectionLogin(endpoint), acr: true };
}

/** A Docker Registry connection of type ACR. */
function acrConnectionLogin(endpoint: Endpoint): RegistryLogin {
  const given = endpoint.param('loginServer') || endpoint.url;
  const loginServer = () =>
    acrHost(
      endpoint.input,
      registryHostFromUrl(given),
      `names ACR service connection '${endpoint.id}' (login server '${printable(given)}')`,
    );
  switch (endpoint.scheme || 'serviceprincipal') {
    case 'serviceprincipal': {
      maskPassword(endpoint.param('serviceprincipalid'), endpoint.param('serviceprincipalkey'));
      const host = loginServer();
      return passwordLogin(endpoint, host, endpoint.param('serviceprincipalid'), endpoint.param('serviceprincipalkey'));
    }
    case 'workloadidentityfederation': {
      const host = loginServer();
      const credentials = workloadIdentityCredentials({
        input: endpoint.input,
        connectionId: endpoint.id,
        clientId: required(endpoint, 'serviceprincipalid', 'service principal id'),
        tenant: required(endpoint, 'tenantid', 'tenant id'),
        authority: endpoint.data('activeDirectoryAuthority') || PUBLIC_CLOUD_AUTHORITY,
      });
      return { host, credentials, label: `input '${endpoint.input}'` };
    }
    case 'managedserviceidentity': {
      const host = loginServer();
      const credentials = managedIdentityCredentials({
        input: endpoint.input,
        connectionId: endpoint.id,
        tenant: endpoint.param('tenantid') || undefined,
        clientId: endpoint.data('msiclientId') || undefined,
      });
      return { host, credentials, label: `input '${endpoint.input}'` };
    }
    default:
      throw UNSUPPORTED(endpoint, 'ServicePrincipal, WorkloadIdentityFederation or ManagedServiceIdentity for ACR');
  }
}

/** `azureContainerRegistry`: a login server, or the classic editor's `{"loginServer": …, "id": …}` (as docker-common reads it). */
function loginServerOf(value: string): string {
  if (!value.startsWith('{')) return value;
  try {
    const parsed = JSON.parse(value) as { loginServer?: unknown };
    return typeof parsed.loginServer === 'string' ? parsed.loginServer : '';
  } catch {
    return '';
  }
}

/** An Azure Resource Manager connection and the registry it signs in to. */
function azureResourceManagerLogin(endpoint: Endpoint, registryInput: string, registryValue: string | undefined): RegistryLogin {
  if (endpoint.param('serviceprincipalkey')) maskPassword(endpoint.param('serviceprincipalid'), endpoint.param('serviceprincipalkey'));
  if (endpoint.param('servicePrincipalCertificate')) maskCertificate(endpoint.param('servicePrincipalCertificate'));
  if (!registryValue) {
    throw new InputError(registryInput, `is required with ${endpoint.input}: the registry's login server, e.g. myacr.azurecr.io`);
  }
  const server = loginServerOf(registryValue);
  if (!server)
    throw new InputError(
      registryInput,
      `is '${printable(registryValue)}', which names no loginServer: pick the registry again, or write its login server (myacr.azurecr.io)`,
    );
  const host = acrHost(registryInput, registryHostFromUrl(server), `is '${printable(registryValue)}'`);
  const label = `input '${endpoint.input}'`;
  const authority = endpoint.data('environmentAuthorityUrl') || PUBLIC_CLOUD_AUTHORITY;
  const from = { input: endpoint.input, connectionId: endpoint.id };
  switch (endpoint.scheme || 'serviceprincipal') {
    case 'serviceprincipal': {
      const clientId = required(endpoint, 'serviceprincipalid', 'service principal id');
      if ((endpoint.param('authenticationType') || 'spnKey').toLowerCase() === 'spncertificate') {
        const pem = endpoint.param('servicePrincipalCertificate');
        if (!pem)
          throw new InputError(
            endpoint.input,
            `names service connection '${endpoint.id}', a service principal with a certificate, but it holds none (servicePrincipalCertificate): edit the connection`,
          );
        const credentials = certificateCredentials({
          ...from,
          clientId,
          tenant: required(endpoint, 'tenantid', 'tenant id'),
          authority,
          pem,
        });
        return { host, credentials, label };
      }
      return passwordLogin(endpoint, host, clientId, endpoint.param('serviceprincipalkey'));
    }
    case 'workloadidentityfederation': {
      const credentials = workloadIdentityCredentials({
        ...from,
        clientId: required(endpoint, 'serviceprincipalid', 'service principal id'),
        tenant: required(endpoint, 'tenantid', 'tenant id'),
        authority,
      });
      return { host, credentials, label };
    }
    case 'managedserviceidentity': {
      const credentials = managedIdentityCredentials({
        ...from,
        tenant: endpoint.param('tenantid') || undefined,
        clientId: endpoint.data('msiclientId') || undefined,
      });
      return { host, credentials, label };
    }
    default:
      throw UNSUPPORTED(endpoint, 'ServicePrincipal, WorkloadIdentityFederation or ManagedServiceIdentity');
  }
}

/**
 * The login one side's inputs give (see {@link SignInInputs}): a Docker Registry connection, or an AzureRM connection
 * with its registry; undefined when neither is set (the registry is then used anonymously). Secrets are masked before
 * anything else happens; Azure identities are not called yet (the registry layer does that, once, when it needs to).
 * Throws InputError naming the input at fault.
 */
export function readRegistryLogin(inputs: InputSource, names: SignInInputs = SIGN_IN_INPUTS): RegistryLogin | undefined {
  const dockerRegistry = readString(inputs, names.dockerRegistry);
  const azureSubscription = readString(inputs, names.azureSubscription);
  const kind =
    dockerRegistry && azureSubscription
      ? readPick(inputs, names.connectionType, CONNECTION_TYPES, 'dockerRegistry')
      : azureSubscription
        ? 'azureResourceManager'
        : dockerRegistry
          ? 'dockerRegistry'
          : undefined;
  if (kind === 'azureResourceManager') {
    const login = azureResourceManagerLogin(
      readEndpoint(inputs, names.azureSubscription)!,
      names.azureRegistry,
      readString(inputs, names.azureRegistry),
    );
    return { ...login, acr: true };
  }
  if (kind === 'dockerRegistry') return dockerRegistryLogin(readEndpoint(inputs, names.dockerRegistry)!);
  const orphan = readString(inputs, names.azureRegistry);
  if (orphan)
    throw new InputError(
      names.azureSubscription,
      `is empty, but ${names.azureRegistry} is '${printable(orphan)}': set it to the Azure Resource Manager connection that signs in there`,
    );
  return undefined;
}

/** The input a login from {@link readRegistryLogin} came from (its label is `input '<name>'`). */
export function inputOfLogin(login: RegistryLogin): string | undefined {
  return /^input '([^']+)'/.exec(login.label ?? '')?.[1];
}

/**
 * The Docker Registry service connection named by input `inputName` alone (kept for callers that take no AzureRM
 * connection). Undefined when the input is empty.
 */
export function readRegistryConnection(inputs: InputSource, inputName: string): RegistryConnection | undefined {
  const endpoint = readEndpoint(inputs, inputName);
  return endpoint ? dockerRegistryLogin(endpoint) : undefined;
}
