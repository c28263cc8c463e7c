import * as crypto from 'node:crypto';
import { startAcrRegistry, type AcrRegistry } from './acr-registry';
import { makeServicePrincipalCertificate, oidcIssuerOf, oidcSubjectOf, startAzureIdentity, type AzureIdentity } from './azure-identity';
import type { Endpoint, RunOptions } from './harness';

/**
 * The Azure sign-in world of the tests: the identity endpoints (Azure DevOps OIDC, Entra ID, IMDS) and an ACR-like
 * registry, with one identity per way an Azure DevOps user signs in, each with a role on the registry. `runOptions`
 * gives what the agent would hand a task for one of the eight modes of issue 9 (the inputs by the task's own names,
 * the service connections, the job's variables and the two documented test seams).
 */

export const TENANT = 'a5f7c3e2-41b0-4c8e-9d6a-0b7e5c1f2d34';
export const OTHER_TENANT = 'f0e1d2c3-b4a5-4968-8776-655443322110';
export const ORGANIZATION = 'outerloop';
export const PROJECT = 'delivery';

/** Every way of signing in that issue 9's Done-when list names. */
export type SignInMode =
  | 'docker-password'
  | 'docker-service-principal'
  | 'docker-workload-identity'
  | 'docker-managed-identity'
  | 'arm-secret'
  | 'arm-certificate'
  | 'arm-workload-identity'
  | 'arm-managed-identity';

export const SIGN_IN_MODES: readonly SignInMode[] = [
  'docker-password',
  'docker-service-principal',
  'docker-workload-identity',
  'docker-managed-identity',
  'arm-secret',
  'arm-certificate',
  'arm-workload-identity',
  'arm-managed-identity',
];

/** How the modes read in test names and the README's table. */
export const MODE_TITLES: Record<SignInMode, string> = {
  'docker-password': 'Docker Registry connection, UsernamePassword',
  'docker-service-principal': 'Docker Registry connection, ACR ServicePrincipal',
  'docker-workload-identity': 'Docker Registry connection, ACR WorkloadIdentityFederation',
  'docker-managed-identity': 'Docker Registry connection, ACR ManagedServiceIdentity',
  'arm-secret': 'Azure Resource Manager connection, ServicePrincipal (secret)',
  'arm-certificate': 'Azure Resource Manager connection, ServicePrincipal (certificate)',
  'arm-workload-identity': 'Azure Resource Manager connection, WorkloadIdentityFederation',
  'arm-managed-identity': 'Azure Resource Manager connection, ManagedServiceIdentity',
};

/** Distinctive secrets, so the leak scans find any encoding of them. */
const ADMIN_PASSWORD = 'acr-Adm1n-Outer-Loop-5e7d';
const SP_SECRET = 'sp-S3cret~Outer.Loop_8c1f';
const SCOPED_TOKEN_PASSWORD = 'acr-T0ken-push-only-2b9e';
const JOB_ACCESS_TOKEN = `job-token-${crypto.randomBytes(16).toString('hex')}`;

const id = () => crypto.randomUUID();
const ids = {
  spClient: id(),
  spObject: id(),
  certClient: id(),
  certObject: id(),
  dockerWifClient: id(),
  dockerWifObject: id(),
  armWifClient: id(),
  armWifObject: id(),
  foreignWifClient: id(),
  systemIdentity: id(),
  userIdentityClient: id(),
  userIdentityObject: id(),
  readerIdentityClient: id(),
  readerIdentityObject: id(),
};

/** The job the OIDC route serves. */
const JOB = { projectId: id(), planId: id(), jobId: id(), hub: 'build' };

export interface SignInWorld {
  identity: AzureIdentity;
  acr: AcrRegistry;
  /** What the agent hands a task signing in `mode` (the source side, or PromoteImage's target side). */
  runOptions(mode: SignInMode, side?: 'source' | 'target'): RunOptions;
  /** The job's variables, the SystemVssConnection and the seams: what every run needs. */
  jobOptions(): RunOptions;
  /** A connection that signs in with a pull-only managed identity (AzureRM), for refusal tests. */
  readerOptions(): RunOptions;
  /**
   * A Docker Registry connection (Others) with an ACR token whose scope map is `_repositories_push`: content read and
   * write, no metadata/read, so it may pull and push but not list tags.
   */
  scopedTokenOptions(): RunOptions;
  /** A Docker Registry WIF connection whose OIDC subject no app trusts (Entra: AADSTS70021). */
  foreignWorkloadIdentityOptions(): RunOptions;
  /**
   * `mode` with another tenant id in its connection: by default one Entra does not know (AADSTS90002); or a tenant it
   * knows where the app is not registered (AADSTS700016).
   */
  wrongTenantOptions(mode: 'arm-workload-identity' | 'docker-workload-identity' | 'arm-certificate', tenant?: string): RunOptions;
  /** `mode`'s connection with some of its parameters replaced (a wrong secret, an unknown managed identity). */
  alteredOptions(mode: SignInMode, change: { parameters?: Record<string, string>; data?: Record<string, string> }): RunOptions;
  /** Every secret a run must not leak: passwords, the SP secret and certificate key, every token issued so far. */
  secrets(): string[];
  stop(): Promise<void>;
}

function merge(...parts: RunOptions[]): RunOptions {
  return parts.reduce<RunOptions>(
    (all, part) => ({
      ...all,
      ...part,
      inputs: { ...all.inputs, ...part.inputs },
      variables: { ...all.variables, ...part.variables },
      env: { ...all.env, ...part.env },
      endpoints: [...(all.endpoints ?? []), ...(part.endpoints ?? [])],
    }),
    {},
  );
}

/** Options of the world: serve Azure DevOps and Entra ID over HTTPS under a name only a proxy resolves. */
export interface SignInWorldOptions {
  identityTls?: { cert: string; key: string; host: string };
}

export async function startSignInWorld(options: SignInWorldOptions = {}): Promise<SignInWorld> {
  const certificate = await makeServicePrincipalCertificate('outerloop-test-spn');
  const connections = {
    'acr-wif': 'acr-wif-connection',
    'arm-wif': 'arm-wif-connection',
    'acr-wif-foreign': 'foreign-connection',
    'acr-wif-wrong-tenant': 'acr-wif-connection',
    'arm-wif-wrong-tenant': 'arm-wif-connection',
  };
  // The apps' federated credentials name the organization's OIDC issuer and the subjects of its connections.
  const organizationId = id();
  const federated = (name: string) => [{ issuer: oidcIssuerOf(organizationId), subject: oidcSubjectOf(ORGANIZATION, PROJECT, name) }];
  const identity = await startAzureIdentity({
    tenants: [TENANT, OTHER_TENANT],
    organization: ORGANIZATION,
    organizationId,
    project: PROJECT,
    ...JOB,
    accessToken: JOB_ACCESS_TOKEN,
    connections,
    tls: options.identityTls,
    apps: [
      { clientId: ids.spClient, objectId: ids.spObject, tenant: TENANT, secret: SP_SECRET },
      { clientId: ids.certClient, objectId: ids.certObject, tenant: TENANT, certificates: [certificate.certificate] },
      { clientId: ids.dockerWifClient, objectId: ids.dockerWifObject, tenant: TENANT, federated: federated('acr-wif-connection') },
      { clientId: ids.armWifClient, objectId: ids.armWifObject, tenant: TENANT, federated: federated('arm-wif-connection') },
      { clientId: ids.foreignWifClient, objectId: id(), tenant: TENANT, federated: federated('some-other-connection') },
    ],
    managedIdentities: [
      { objectId: ids.systemIdentity, tenant: TENANT },
      { clientId: ids.userIdentityClient, objectId: ids.userIdentityObject, tenant: TENANT },
      { clientId: ids.readerIdentityClient, objectId: ids.readerIdentityObject, tenant: TENANT },
    ],
  });
  // An Azure role (AcrPush, AcrPull) lets an identity list tags too: ACR's metadata_read.
  const pushPull = { '*': ['pull', 'push', 'metadata_read'] };
  const acr = await startAcrRegistry({
    tenant: TENANT,
    entraPublicKey: identity.entraPublicKey,
    identities: [
      { name: 'admin', password: ADMIN_PASSWORD, grants: { '*': ['pull', 'push', 'delete', 'metadata_read'] } },
      { name: 'service-principal', servicePrincipal: { clientId: ids.spClient, secret: SP_SECRET }, grants: pushPull },
      { name: 'certificate', objectId: ids.certObject, grants: pushPull },
      { name: 'docker-federated', objectId: ids.dockerWifObject, grants: pushPull },
      { name: 'arm-federated', objectId: ids.armWifObject, grants: pushPull },
      { name: 'system-identity', objectId: ids.systemIdentity, grants: pushPull },
      { name: 'user-identity', objectId: ids.userIdentityObject, grants: pushPull },
      { name: 'reader-identity', objectId: ids.readerIdentityObject, grants: { '*': ['pull', 'metadata_read'] } },
      { name: 'push-token', password: SCOPED_TOKEN_PASSWORD, grants: { '*': ['pull', 'push'] } },
    ],
  });

  const loginServer = acr.host;
  const dockerAcr = (
    endpointId: string,
    scheme: string,
    parameters: Record<string, string>,
    data: Record<string, string> = {},
  ): Endpoint => ({
    id: endpointId,
    url: `https://${loginServer}`,
    scheme,
    parameters: { loginServer, ...parameters },
    data: { registrytype: 'ACR', ...data },
  });
  const arm = (endpointId: string, scheme: string, parameters: Record<string, string>, data: Record<string, string> = {}): Endpoint => ({
    id: endpointId,
    url: 'https://management.azure.com/',
    scheme,
    parameters,
    data: {
      environment: 'AzureCloud',
      subscriptionId: id(),
      subscriptionName: 'Outer Loop',
      environmentAuthorityUrl: identity.authority,
      ...data,
    },
  });
  const endpointFor = (mode: SignInMode): Endpoint => {
    switch (mode) {
      case 'docker-password':
        return {
          id: 'acr-password',
          url: `https://${loginServer}`,
          scheme: 'UsernamePassword',
          parameters: { registry: `https://${loginServer}`, username: 'admin', password: ADMIN_PASSWORD, email: 'ci@example.test' },
          data: { registrytype: 'Others' },
        };
      case 'docker-service-principal':
        return dockerAcr('acr-sp', 'ServicePrincipal', {
          serviceprincipalid: ids.spClient,
          serviceprincipalkey: SP_SECRET,
          tenantid: TENANT,
        });
      case 'docker-workload-identity':
        return dockerAcr(
          'acr-wif',
          'WorkloadIdentityFederation',
          { serviceprincipalid: ids.dockerWifClient, tenantid: TENANT },
          { activeDirectoryAuthority: identity.authority },
        );
      case 'docker-managed-identity':
        return dockerAcr('acr-msi', 'ManagedServiceIdentity', { tenantid: TENANT });
      case 'arm-secret':
        return arm('arm-secret', 'ServicePrincipal', {
          serviceprincipalid: ids.spClient,
          serviceprincipalkey: SP_SECRET,
          tenantid: TENANT,
          authenticationType: 'spnKey',
        });
      case 'arm-certificate':
        return arm('arm-cert', 'ServicePrincipal', {
          serviceprincipalid: ids.certClient,
          servicePrincipalCertificate: certificate.pem,
          tenantid: TENANT,
          authenticationType: 'spnCertificate',
        });
      case 'arm-workload-identity':
        return arm('arm-wif', 'WorkloadIdentityFederation', { serviceprincipalid: ids.armWifClient, tenantid: TENANT });
      case 'arm-managed-identity':
        return arm('arm-msi', 'ManagedServiceIdentity', { tenantid: TENANT }, { msiclientId: ids.userIdentityClient });
    }
  };

  const jobOptions = (): RunOptions => ({
    variables: {
      'System.CollectionUri': identity.collectionUri,
      'System.TeamFoundationCollectionUri': identity.collectionUri,
      'System.TeamProject': PROJECT,
      'System.TeamProjectId': JOB.projectId,
      'System.HostType': JOB.hub,
      'System.PlanId': JOB.planId,
      'System.JobId': JOB.jobId,
    },
    endpoints: [{ id: 'SystemVssConnection', url: identity.collectionUri, scheme: 'OAuth', parameters: { AccessToken: JOB_ACCESS_TOKEN } }],
    env: { OUTERLOOP_TEST_ACR_ON_LOOPBACK: 'true', OUTERLOOP_TEST_IMDS_ENDPOINT: identity.imdsOrigin },
  });

  const sideInputs = (side: 'source' | 'target', endpoint: Endpoint, armConnection: boolean): Record<string, string> => {
    const name = (input: string) => (side === 'source' ? input : `target${input[0].toUpperCase()}${input.slice(1)}`);
    return armConnection
      ? {
          [name('connectionType')]: 'azureResourceManager',
          [name('azureSubscriptionEndpoint')]: endpoint.id,
          [name('azureContainerRegistry')]: loginServer,
        }
      : { [name('containerRegistry')]: endpoint.id };
  };

  const runOptions = (mode: SignInMode, side: 'source' | 'target' = 'source'): RunOptions => {
    const endpoint = endpointFor(mode);
    return merge(jobOptions(), { inputs: sideInputs(side, endpoint, mode.startsWith('arm-')), endpoints: [endpoint] });
  };

  return {
    identity,
    acr,
    runOptions,
    jobOptions,
    scopedTokenOptions: () => {
      const endpoint: Endpoint = {
        id: 'acr-scoped-token',
        url: `https://${loginServer}`,
        scheme: 'UsernamePassword',
        parameters: { registry: `https://${loginServer}`, username: 'push-token', password: SCOPED_TOKEN_PASSWORD, email: '' },
        data: { registrytype: 'Others' },
      };
      return merge(jobOptions(), { inputs: sideInputs('source', endpoint, false), endpoints: [endpoint] });
    },
    readerOptions: () => {
      const endpoint = arm('arm-reader', 'ManagedServiceIdentity', { tenantid: TENANT }, { msiclientId: ids.readerIdentityClient });
      return merge(jobOptions(), { inputs: sideInputs('source', endpoint, true), endpoints: [endpoint] });
    },
    foreignWorkloadIdentityOptions: () => {
      const endpoint = dockerAcr(
        'acr-wif-foreign',
        'WorkloadIdentityFederation',
        { serviceprincipalid: ids.foreignWifClient, tenantid: TENANT },
        { activeDirectoryAuthority: identity.authority },
      );
      return merge(jobOptions(), { inputs: sideInputs('source', endpoint, false), endpoints: [endpoint] });
    },
    wrongTenantOptions: (mode, tenant = 'contoso.onmicrosoft.example') => {
      const endpoint = endpointFor(mode);
      // The OIDC route knows the connection by this id too: the subject stays that of the right connection.
      const wrong: Endpoint = { ...endpoint, id: `${endpoint.id}-wrong-tenant`, parameters: { ...endpoint.parameters, tenantid: tenant } };
      return merge(jobOptions(), { inputs: sideInputs('source', wrong, mode.startsWith('arm-')), endpoints: [wrong] });
    },
    alteredOptions: (mode, change) => {
      const endpoint = endpointFor(mode);
      const altered: Endpoint = {
        ...endpoint,
        parameters: { ...endpoint.parameters, ...change.parameters },
        data: { ...endpoint.data, ...change.data },
      };
      return merge(jobOptions(), { inputs: sideInputs('source', altered, mode.startsWith('arm-')), endpoints: [altered] });
    },
    secrets: () => [
      ADMIN_PASSWORD,
      SCOPED_TOKEN_PASSWORD,
      SP_SECRET,
      JOB_ACCESS_TOKEN,
      certificate.key,
      ...certificate.key.split('\n').filter((line) => line.length >= 16 && !line.startsWith('-----')),
      ...identity.tokens(),
      ...acr.tokens(),
    ],
    async stop() {
      await Promise.all([acr.stop(), identity.stop()]);
    },
  };
}
