// Sign-in refusals of issue 9 as the bad-input suite's tables (test/support/bad-input.ts): a wrong tenant, an expired
// or foreign assertion, an identity without push rights, an AzureRM connection without a registry, and their kin.
// Each ends Failed with one line naming the input at fault, within the time bound, with nothing written to the
// registry and no secret (password, secret, certificate key, job token, OIDC token, Entra or ACR token) in any
// encoding in any output or file. The identity endpoints and the ACR-like registry are the contract servers of
// test/support/azure-identity.ts and acr-registry.ts.
import type Dockerode from 'dockerode';
import { badInputCases, type BadInputCase } from '../support/bad-input';
import { OTHER_TENANT, startSignInWorld, type SignInWorld } from '../support/azure-signin';
import { buildBusyboxImage, removeTestImages, requireEngine, TEST_RUN_ID } from '../support/engine';
import { bundleOnce, type RunOptions } from '../support/harness';
import { listTags, pushRandomImage } from '../support/images';
import { requireRegistry } from '../support/registries';

let world: SignInWorld;
const SOURCE_REPOSITORY = 'bad-signin/app';
/** Where a promotion or a push would write if a refusal came too late; their tags are the side-effect snapshot. */
const WRITTEN = ['prod/bad-signin/app', 'bad-signin/pushed'];
const PUSH_SOURCE = `outerloop-test/bad-signin-push:${TEST_RUN_ID}`;

/** Options read when the case runs (the world starts in `before`); `prepare` runs then too, once. */
function late(options: () => RunOptions, prepare?: () => void): RunOptions {
  let made: RunOptions | undefined;
  const get = () => {
    if (!made) {
      prepare?.();
      made = options();
    }
    return made;
  };
  return {
    get inputs() {
      return get().inputs;
    },
    get endpoints() {
      return get().endpoints;
    },
    get variables() {
      return get().variables;
    },
    get env() {
      return get().env;
    },
  };
}

function withInputs(options: RunOptions, inputs: Record<string, string>, more: RunOptions = {}): RunOptions {
  return {
    ...options,
    inputs: { ...options.inputs, ...inputs },
    variables: { ...options.variables, ...more.variables },
    env: { ...options.env, ...more.env },
  };
}

const promoteCases: BadInputCase[] = [
  {
    name: 'an AzureRM WorkloadIdentityFederation connection with a tenant Entra ID does not know',
    options: late(() => world.wrongTenantOptions('arm-workload-identity')),
    names: "input 'azureSubscriptionEndpoint'",
    pattern: /AADSTS90002: Tenant 'contoso\.onmicrosoft\.example' not found/,
  },
  {
    name: 'a Docker Registry WorkloadIdentityFederation connection in a tenant where its app is not registered',
    options: late(() => world.wrongTenantOptions('docker-workload-identity', OTHER_TENANT)),
    names: "input 'containerRegistry'",
    pattern: /AADSTS700016: Application with identifier '[0-9a-f-]+' was not found in the directory/,
  },
  {
    name: 'a service principal certificate connection with a tenant Entra ID does not know',
    options: late(() => world.wrongTenantOptions('arm-certificate')),
    names: "input 'azureSubscriptionEndpoint'",
    pattern: /AADSTS90002/,
  },
  {
    name: "an expired assertion (the job's OIDC token arrives expired)",
    options: late(
      () => world.runOptions('docker-workload-identity'),
      () => world.identity.expireNextOidcTokens(1),
    ),
    names: "input 'containerRegistry'",
    pattern: /AADSTS700024: Client assertion is not within its valid time range/,
  },
  {
    name: 'a foreign assertion (no federated credential trusts the connection the OIDC token is for)',
    options: late(() => world.foreignWorkloadIdentityOptions()),
    names: "input 'containerRegistry'",
    pattern: /AADSTS70021: No matching federated identity record found for presented assertion/,
  },
  {
    name: 'an identity without push rights (a managed identity with AcrPull only)',
    options: late(() => world.readerOptions()),
    names: "input 'azureSubscriptionEndpoint'",
    pattern:
      /managed identity '[0-9a-f-]+' \(input 'azureSubscriptionEndpoint'\) lacks the access '[^']*repository:prod\/bad-signin\/app:pull,push[^']*' \(insufficient_scope\)/,
  },
  {
    name: 'an AzureRM connection without a registry',
    options: late(() => withInputs(world.runOptions('arm-workload-identity'), { azureContainerRegistry: '' })),
    names: "input 'azureContainerRegistry'",
    pattern: /is required with azureSubscriptionEndpoint: the registry's login server/,
  },
  {
    name: 'an AzureRM connection with a registry that is not an ACR login server',
    options: late(() => withInputs(world.runOptions('arm-managed-identity'), { azureContainerRegistry: 'registry.example.com' })),
    names: "input 'azureContainerRegistry'",
    pattern: /registry\.example\.com is not an Azure Container Registry login server \(\*\.azurecr\.io, \*\.azurecr\.cn, \*\.azurecr\.us\)/,
  },
  {
    name: 'an AzureRM registry on loopback without the test seam (Entra tokens go only to ACR hosts)',
    options: late(() => withInputs(world.runOptions('arm-workload-identity'), {}, { env: { OUTERLOOP_TEST_ACR_ON_LOOPBACK: '' } })),
    names: "input 'azureContainerRegistry'",
    pattern: /is not an Azure Container Registry login server/,
  },
  {
    name: "the classic editor's registry JSON without a loginServer",
    options: late(() =>
      withInputs(world.runOptions('arm-secret'), {
        azureContainerRegistry: '{"id":"/subscriptions/x/resourceGroups/y/providers/Microsoft.ContainerRegistry/registries/z"}',
      }),
    ),
    names: "input 'azureContainerRegistry'",
    pattern: /names no loginServer/,
  },
  {
    name: 'an AzureRM ServicePrincipal connection with a wrong secret',
    options: late(() => world.alteredOptions('arm-secret', { parameters: { serviceprincipalkey: 'wr0ng-Sp-Secret-Outer-Loop' } })),
    names: "input 'azureSubscriptionEndpoint'",
    pattern: /refused user '[0-9a-f-]+' \(input 'azureSubscriptionEndpoint'\)/,
  },
  {
    name: 'an AzureRM ManagedServiceIdentity connection naming an identity the agent machine does not have',
    options: late(() => world.alteredOptions('arm-managed-identity', { data: { msiclientId: '00000000-1111-2222-3333-444444444444' } })),
    names: "input 'azureSubscriptionEndpoint'",
    pattern: /the instance metadata service has no token for managed identity '00000000-1111-2222-3333-444444444444': Identity not found/,
  },
  {
    name: 'a certificate connection whose PEM holds no private key',
    options: late(() =>
      world.alteredOptions('arm-certificate', {
        parameters: { servicePrincipalCertificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
      }),
    ),
    names: "input 'azureSubscriptionEndpoint'",
    pattern: /certificate \(servicePrincipalCertificate\) holds no PEM private key/,
  },
  {
    name: 'a WorkloadIdentityFederation connection on a job whose agent did not set System.PlanId',
    options: late(() => withInputs(world.runOptions('docker-workload-identity'), {}, { variables: { 'System.PlanId': '' } })),
    names: "input 'containerRegistry'",
    pattern: /needs the job's System\.PlanId/,
  },
  {
    name: 'both connection types set and connectionType naming neither',
    options: late(() => {
      const arm = world.runOptions('arm-secret');
      const docker = world.runOptions('docker-password');
      return {
        ...arm,
        inputs: { ...arm.inputs, ...docker.inputs, connectionType: 'acr' },
        endpoints: [...(arm.endpoints ?? []), ...(docker.endpoints ?? []).filter((e) => e.id !== 'SystemVssConnection')],
      };
    }),
    names: "input 'connectionType'",
    pattern: /must be one of dockerRegistry, azureResourceManager/,
  },
];

const pushCases: BadInputCase[] = [
  {
    name: 'an identity without push rights, through the engine (a managed identity with AcrPull only)',
    options: late(() => world.readerOptions()),
    names: "input 'azureSubscriptionEndpoint'",
    pattern: /it needs pull and push on 127\.0\.0\.1:\d+\/bad-signin\/pushed/,
  },
  {
    name: 'an expired assertion, before anything is tagged or pushed',
    options: late(
      () => world.runOptions('arm-workload-identity'),
      () => world.identity.expireNextOidcTokens(1),
    ),
    names: "input 'azureSubscriptionEndpoint'",
    pattern: /AADSTS700024/,
  },
];

describe('bad input: signing in to ACR (issue 9), one Failed line naming the input, nothing written', function () {
  let docker: Dockerode | undefined;

  before(async function () {
    this.timeout(120_000);
    requireRegistry(this);
    await bundleOnce();
    world = await startSignInWorld();
    await pushRandomImage(world.acr.seed, SOURCE_REPOSITORY, 'v1', { layers: 2, seed: 950 });
  });

  after(async function () {
    this.timeout(60_000);
    if (docker) await removeTestImages(docker, { onlyThisRun: true });
    await world?.stop();
  });

  const sideEffects = async () =>
    (await Promise.all(WRITTEN.map(async (repo) => `${repo}: ${(await listTags(world.acr.seed, repo)).join(',')}`))).join('\n');

  describe('PromoteImage@1', () => {
    badInputCases({
      task: 'PromoteImage',
      base: () => ({ inputs: { sourceImage: `${world.acr.host}/${SOURCE_REPOSITORY}:v1` } }),
      secrets: () => world.secrets(),
      sideEffects,
      cases: promoteCases,
    });
  });

  describe('PushImageByDigest@1 (real engine)', () => {
    before(async function () {
      this.timeout(120_000);
      docker = await requireEngine(this);
      await buildBusyboxImage(docker, { tag: PUSH_SOURCE, layers: 1, bytesPerLayer: 1024, seed: `bad-signin-${TEST_RUN_ID}` });
    });

    badInputCases({
      task: 'PushImageByDigest',
      base: () => ({
        inputs: { repository: `${world.acr.host}/bad-signin/pushed`, tags: 'v1', sourceImage: PUSH_SOURCE, publishLockArtifact: 'false' },
      }),
      secrets: () => world.secrets(),
      sideEffects,
      cases: pushCases,
    });
  });
});
