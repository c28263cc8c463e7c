// The core's Azure sign-in (shared/src/auth/entra.ts, registry/acr.ts, the registry client) in process against the
// contract servers of test/support/azure-identity.ts (Azure DevOps OIDC route, Entra ID v2.0 token endpoint, IMDS) and
// the ACR-like token service in front of a real distribution registry (test/support/acr-registry.ts).
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import {
  requestEntraToken,
  requestManagedIdentityToken,
  requestPipelineOidcToken,
  readCertificatePem,
  signCertificateAssertion,
  entraTokenUrl,
} from '../../shared/src/auth/entra';
import { memoryLog } from '../../shared/src/log';
import { promoteImage, RegistryClient, type EntraCredentials } from '../../shared/src/registry';
import { startAcrRegistry, type AcrRegistry } from '../support/acr-registry';
import {
  decodeJwt,
  makeServicePrincipalCertificate,
  oidcIssuerOf,
  oidcSubjectOf,
  startAzureIdentity,
  verifyJwt,
  type AzureIdentity,
} from '../support/azure-identity';
import { fetchManifest, pushRandomImage } from '../support/images';
import { requireRegistry } from '../support/registries';

const TENANT = '3b1d9c44-7e2a-4f60-8a51-2c9e0d7b6f18';
const ORG = 'outerloop';
const PROJECT = 'delivery';
const job = { projectId: crypto.randomUUID(), planId: crypto.randomUUID(), jobId: crypto.randomUUID(), hub: 'release' };
const ACCESS_TOKEN = `job-${crypto.randomBytes(8).toString('hex')}`;

describe('Azure sign-in in the core, against the contract servers and a real token-auth registry', function () {
  let identity: AzureIdentity;
  let acr: AcrRegistry;
  let certificate: { pem: string; certificate: string };
  let other: { pem: string; certificate: string };
  const organizationId = crypto.randomUUID();
  const ids = {
    federated: crypto.randomUUID(),
    federatedObject: crypto.randomUUID(),
    cert: crypto.randomUUID(),
    certObject: crypto.randomUUID(),
    mi: crypto.randomUUID(),
  };

  before(async function () {
    this.timeout(120_000);
    requireRegistry(this);
    [certificate, other] = await Promise.all([
      makeServicePrincipalCertificate('outerloop-core-spn'),
      makeServicePrincipalCertificate('outerloop-core-other'),
    ]);
    identity = await startAzureIdentity({
      tenants: [TENANT],
      organization: ORG,
      organizationId,
      project: PROJECT,
      ...job,
      accessToken: ACCESS_TOKEN,
      connections: { 'sc-1': 'registry-connection' },
      apps: [
        {
          clientId: ids.federated,
          objectId: ids.federatedObject,
          tenant: TENANT,
          federated: [{ issuer: oidcIssuerOf(organizationId), subject: oidcSubjectOf(ORG, PROJECT, 'registry-connection') }],
        },
        { clientId: ids.cert, objectId: ids.certObject, tenant: TENANT, certificates: [certificate.certificate] },
      ],
      managedIdentities: [{ objectId: ids.mi, tenant: TENANT }],
    });
    acr = await startAcrRegistry({
      tenant: TENANT,
      entraPublicKey: identity.entraPublicKey,
      identities: [
        { name: 'admin', password: 'core-Adm1n-Outer-Loop', grants: { '*': ['pull', 'push', 'delete', 'metadata_read'] } },
        { name: 'federated', objectId: ids.federatedObject, grants: { '*': ['pull', 'push', 'metadata_read'] } },
        { name: 'certificate', objectId: ids.certObject, grants: { '*': ['pull', 'push', 'metadata_read'] } },
        {
          name: 'machine',
          objectId: ids.mi,
          grants: { 'core/*': ['pull', 'metadata_read'], 'prod/core/*': ['pull', 'push', 'metadata_read'] },
        },
      ],
    });
  });

  after(async () => {
    await acr?.stop();
    await identity?.stop();
  });

  it('workload identity federation: the OIDC route gives an assertion whose issuer, subject and audience Entra trusts; the token is for ACR', async () => {
    const oidc = await requestPipelineOidcToken(
      { collectionUri: identity.collectionUri, ...job, serviceConnectionId: 'sc-1', accessToken: ACCESS_TOKEN },
      { fetch },
    );
    const claims = decodeJwt(oidc)!.claims;
    assert.equal(claims.iss, oidcIssuerOf(organizationId));
    assert.equal(claims.sub, 'sc://outerloop/delivery/registry-connection');
    assert.equal(claims.aud, 'api://AzureADTokenExchange');
    const token = await requestEntraToken(
      { authority: identity.authority, tenant: TENANT, clientId: ids.federated, clientAssertion: oidc },
      { fetch },
    );
    const verified = verifyJwt(token, identity.entraPublicKey)!;
    assert.equal(verified.claims.aud, 'https://containerregistry.azure.net');
    assert.equal(verified.claims.oid, ids.federatedObject);
  });

  it('certificate: an assertion signed with the connection certificate is accepted, one signed with another is refused (AADSTS700027)', async () => {
    const url = entraTokenUrl(identity.authority, TENANT).toString();
    const good = signCertificateAssertion(readCertificatePem(certificate.pem), ids.cert, url);
    assert.ok(
      await requestEntraToken({ authority: identity.authority, tenant: TENANT, clientId: ids.cert, clientAssertion: good }, { fetch }),
    );
    const foreign = signCertificateAssertion(readCertificatePem(other.pem), ids.cert, url);
    await assert.rejects(
      requestEntraToken({ authority: identity.authority, tenant: TENANT, clientId: ids.cert, clientAssertion: foreign }, { fetch }),
      /401 INVALID_CLIENT: .*AADSTS700027/,
    );
  });

  it('an ARM-audience token is refused by the exchange, which is why the tasks ask for the ACR scope', async () => {
    const url = entraTokenUrl(identity.authority, TENANT).toString();
    const assertion = signCertificateAssertion(readCertificatePem(certificate.pem), ids.cert, url);
    const arm = await requestEntraToken(
      {
        authority: identity.authority,
        tenant: TENANT,
        clientId: ids.cert,
        clientAssertion: assertion,
        scope: 'https://management.azure.com/.default',
      },
      { fetch },
    );
    const credentials: EntraCredentials = {
      kind: 'entra',
      identity: 'service principal (certificate)',
      tenant: TENANT,
      admitLoopback: true,
      accessToken: () => Promise.resolve(arm),
    };
    const client = new RegistryClient({ registry: acr.host, credentials, log: memoryLog() });
    await assert.rejects(
      client.passwordCredentials(),
      /401 UNAUTHORIZED: the access token's audience 'https:\/\/management\.azure\.com' is not https:\/\/containerregistry\.azure\.net/,
    );
  });

  it('managed identity: promoteImage exchanges once and buys one token for the whole promotion; the scope it lacks is named', async function () {
    this.timeout(60_000);
    const source = await pushRandomImage(acr.seed, 'core/app', 'v1', { layers: 3, seed: 960 });
    let entraCalls = 0;
    const credentials: EntraCredentials = {
      kind: 'entra',
      identity: "the agent machine's managed identity",
      tenant: TENANT,
      admitLoopback: true,
      accessToken: async (request) => {
        entraCalls++;
        return requestManagedIdentityToken({ endpoint: `${identity.imdsOrigin}/metadata/identity/oauth2/token` }, request);
      },
    };
    acr.reset();
    const result = await promoteImage(
      {
        sourceImage: `${acr.host}/core/app:v1`,
        containerRegistry: { host: acr.host, credentials, label: "input 'azureSubscriptionEndpoint'" },
      },
      memoryLog(),
    );
    assert.equal(result.digest, source.digest);
    assert.equal((await fetchManifest(acr.seed, 'prod/core/app', 'v1')).digest, source.digest);
    assert.equal(entraCalls, 1);
    assert.equal(acr.requests.filter((r) => r.kind === 'exchange').length, 1);
    assert.equal(result.tokenRequests, 1);

    await assert.rejects(
      promoteImage(
        {
          sourceImage: `${acr.host}/core/app:v1`,
          targetImage: `${acr.host}/elsewhere/app:v1`,
          containerRegistry: { host: acr.host, credentials, label: "input 'azureSubscriptionEndpoint'" },
        },
        memoryLog(),
      ),
      /the agent machine's managed identity \(input 'azureSubscriptionEndpoint'\) lacks the access '[^']*repository:elsewhere\/app:pull[^']*' \(insufficient_scope\)/,
    );
  });
});
