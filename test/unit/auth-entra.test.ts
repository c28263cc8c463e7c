// shared/src/auth/entra.ts against a scripted fetch: the requests as Microsoft documents them (Entra ID's v2.0 client
// credentials flow with a secret or a client assertion; the certificate assertion's x5t/aud/iss/sub; IMDS's route,
// Metadata header and client_id; Azure DevOps' plan/job oidctoken route), Entra's AADSTS refusals as one line, and
// temporary failures retried by the one retry policy. Against the contract servers: test/integration/sign-in.test.ts.
import { strict as assert } from 'node:assert';
import * as crypto from 'node:crypto';
import {
  ACR_RESOURCE,
  ACR_SCOPE,
  onceSucceeded,
  readCertificatePem,
  requestEntraToken,
  requestManagedIdentityToken,
  requestPipelineOidcToken,
  signCertificateAssertion,
} from '../../shared/src/auth/entra';
import { RegistryError } from '../../shared/src/registry/errors';
import { needOrSkip } from '../support/env';
import { makeServicePrincipalCertificate } from '../support/azure-identity';

interface Call {
  url: URL;
  method: string;
  headers: Headers;
  body: string;
}

function scripted(reply: (call: Call, n: number) => Response) {
  const calls: Call[] = [];
  const fetch = ((input: string | URL | Request, init?: RequestInit) => {
    const call = {
      url: new URL(input instanceof Request ? input.url : input.toString()),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : '',
    };
    calls.push(call);
    try {
      return Promise.resolve(reply(call, calls.length));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const noWait = { random: () => 0, sleep: () => Promise.resolve() };

describe('Entra ID client credentials (Microsoft identity platform, v2.0 token endpoint)', () => {
  it('posts client_id, the ACR scope, grant_type and the client assertion to <authority>/<tenant>/oauth2/v2.0/token', async () => {
    const { fetch, calls } = scripted(() => json({ token_type: 'Bearer', expires_in: 3599, access_token: 'AT' }));
    const token = await requestEntraToken(
      { authority: 'https://login.microsoftonline.com', tenant: 'tenant-1', clientId: 'client-1', clientAssertion: 'ASSERTION' },
      { fetch },
    );
    assert.equal(token, 'AT');
    assert.equal(calls[0].url.toString(), 'https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token');
    assert.equal(calls[0].method, 'POST');
    assert.equal(calls[0].headers.get('content-type'), 'application/x-www-form-urlencoded');
    assert.deepEqual(Object.fromEntries(new URLSearchParams(calls[0].body)), {
      client_id: 'client-1',
      scope: ACR_SCOPE,
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: 'ASSERTION',
    });
    assert.equal(ACR_SCOPE, 'https://containerregistry.azure.net/.default');
  });

  it("reports a refusal in one line: Entra's code and the AADSTS line, without its trace ids", async () => {
    const { fetch } = scripted(() =>
      json(
        {
          error: 'invalid_client',
          error_description:
            'AADSTS700024: Client assertion is not within its valid time range.\r\nTrace ID: 1\r\nCorrelation ID: 2\r\nTimestamp: 3',
          error_codes: [700024],
        },
        400,
      ),
    );
    await assert.rejects(
      requestEntraToken({ authority: 'https://login.microsoftonline.com/', tenant: 't', clientId: 'c', clientAssertion: 'A' }, { fetch }),
      (error: Error) =>
        error instanceof RegistryError &&
        !error.temporary &&
        error.message ===
          "400 INVALID_CLIENT: Entra ID refused client 'c' in tenant 't': AADSTS700024: Client assertion is not within its valid time range. (POST https://login.microsoftonline.com/t/oauth2/v2.0/token)",
    );
  });

  it('retries a 503 and a dropped connection by the one retry policy, then succeeds', async () => {
    const { fetch, calls } = scripted((_, n) => {
      if (n === 1) return json({ error: 'temporarily_unavailable' }, 503);
      if (n === 2) throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return json({ access_token: 'AT' });
    });
    assert.equal(
      await requestEntraToken(
        { authority: 'https://login.microsoftonline.com/', tenant: 't', clientId: 'c', clientSecret: 's' },
        { fetch, retry: noWait },
      ),
      'AT',
    );
    assert.equal(calls.length, 3);
    assert.equal(new URLSearchParams(calls[2].body).get('client_secret'), 's');
  });

  it('refuses a plain-HTTP authority off the loopback before sending anything', async () => {
    const { fetch, calls } = scripted(() => json({}));
    await assert.rejects(
      requestEntraToken({ authority: 'http://login.example.com/', tenant: 't', clientId: 'c', clientSecret: 's' }, { fetch }),
      /is not HTTPS: refusing to send credentials/,
    );
    assert.equal(calls.length, 0);
  });
});

describe('a client assertion signed with the service principal certificate (x5t, aud = token endpoint, iss = sub = client)', () => {
  let pem: string | undefined;
  before(async function () {
    pem = await makeServicePrincipalCertificate('t').then(
      (made) => made.pem,
      () => undefined,
    );
    needOrSkip(this, pem !== undefined, 'openssl');
  });

  it("refuses a PEM without a certificate, without a key, or with another certificate's key", () => {
    const key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(() => readCertificatePem(key), /holds no PEM certificate/);
    assert.throws(() => readCertificatePem(pem!.replace(/-----BEGIN PRIVATE KEY-----[\s\S]+$/, '')), /holds no PEM private key/);
    const certificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(pem!)![0];
    assert.throws(() => readCertificatePem(certificate + key), /private key that does not belong to its certificate/);
  });

  it('signs RS256 with x5t = base64url SHA-1 of the certificate and the claims Entra checks', () => {
    const certificate = readCertificatePem(pem!);
    const assertion = signCertificateAssertion(
      certificate,
      'client-1',
      'https://login.microsoftonline.com/t/oauth2/v2.0/token',
      1_700_000_000_000,
    );
    const [header, claims, signature] = assertion.split('.');
    const h = JSON.parse(Buffer.from(header, 'base64url').toString());
    const c = JSON.parse(Buffer.from(claims, 'base64url').toString());
    assert.equal(h.alg, 'RS256');
    assert.equal(h.x5t, crypto.createHash('sha1').update(certificate.certificate.raw).digest('base64url'));
    assert.equal(c.aud, 'https://login.microsoftonline.com/t/oauth2/v2.0/token');
    assert.equal(c.iss, 'client-1');
    assert.equal(c.sub, 'client-1');
    assert.equal(c.nbf, 1_700_000_000);
    assert.equal(c.exp, 1_700_000_600);
    assert.match(c.jti, /^[0-9a-f-]{36}$/);
    assert.ok(
      crypto.verify('sha256', Buffer.from(`${header}.${claims}`), certificate.certificate.publicKey, Buffer.from(signature, 'base64url')),
    );
  });
});

describe('the instance metadata service (Azure IMDS managed identity route)', () => {
  it('GETs /metadata/identity/oauth2/token with api-version 2018-02-01, the ACR resource, Metadata: true, and client_id only when given', async () => {
    const { fetch, calls } = scripted(() => json({ access_token: 'MI', expires_in: '86399', token_type: 'Bearer' }));
    assert.equal(await requestManagedIdentityToken({}, { fetch }), 'MI');
    assert.equal(await requestManagedIdentityToken({ clientId: 'user-assigned' }, { fetch }), 'MI');
    assert.equal(calls[0].url.origin, 'http://169.254.169.254');
    assert.equal(calls[0].url.pathname, '/metadata/identity/oauth2/token');
    assert.equal(calls[0].url.searchParams.get('api-version'), '2018-02-01');
    assert.equal(calls[0].url.searchParams.get('resource'), ACR_RESOURCE);
    assert.equal(calls[0].url.searchParams.has('client_id'), false);
    assert.equal(calls[0].headers.get('metadata'), 'true');
    assert.equal(calls[1].url.searchParams.get('client_id'), 'user-assigned');
  });

  it('names the identity the machine does not have', async () => {
    const { fetch } = scripted(() => json({ error: 'invalid_request', error_description: 'Identity not found' }, 400));
    await assert.rejects(
      requestManagedIdentityToken({ clientId: 'x' }, { fetch }),
      /the instance metadata service has no token for managed identity 'x': Identity not found/,
    );
  });
});

describe("the job's OIDC token (Azure DevOps distributedtask oidctoken route, api-version 7.1-preview.1)", () => {
  const job = {
    collectionUri: 'https://dev.azure.com/org/',
    projectId: 'p-id',
    hub: 'build',
    planId: 'plan',
    jobId: 'job',
    serviceConnectionId: 'sc-id',
    accessToken: 'JOB',
  };

  it('POSTs to {collection}{project}/_apis/distributedtask/hubs/{hub}/plans/{plan}/jobs/{job}/oidctoken with the job token', async () => {
    const { fetch, calls } = scripted(() => json({ oidcToken: 'OIDC' }));
    assert.equal(await requestPipelineOidcToken(job, { fetch }), 'OIDC');
    assert.equal(calls[0].method, 'POST');
    assert.equal(
      calls[0].url.toString(),
      'https://dev.azure.com/org/p-id/_apis/distributedtask/hubs/build/plans/plan/jobs/job/oidctoken?serviceConnectionId=sc-id&api-version=7.1-preview.1',
    );
    assert.equal(calls[0].headers.get('authorization'), 'Bearer JOB');
  });

  it('takes a collection URI without its trailing slash', async () => {
    const { fetch, calls } = scripted(() => json({ oidcToken: 'OIDC' }));
    await requestPipelineOidcToken({ ...job, collectionUri: 'https://tfs.example.com/tfs/Collection' }, { fetch });
    assert.equal(calls[0].url.pathname, '/tfs/Collection/p-id/_apis/distributedtask/hubs/build/plans/plan/jobs/job/oidctoken');
  });

  it("reports a refusal with Azure DevOps' message", async () => {
    const { fetch } = scripted(() => json({ message: 'TF400813: The user is not authorized to access this resource.' }, 401));
    await assert.rejects(
      requestPipelineOidcToken(job, { fetch }),
      /401 HTTP_401: Azure DevOps refused the job's OIDC token for service connection 'sc-id': TF400813/,
    );
  });
});

describe('onceSucceeded', () => {
  it('shares one success, forgets a failure', async () => {
    let calls = 0;
    const source = onceSucceeded(() => {
      calls++;
      return calls === 1 ? Promise.reject(new Error('first fails')) : Promise.resolve(`token-${calls}`);
    });
    await assert.rejects(source(), /first fails/);
    assert.deepEqual(await Promise.all([source(), source()]), ['token-2', 'token-2']);
    assert.equal(await source(), 'token-2');
    assert.equal(calls, 2);
  });
});
