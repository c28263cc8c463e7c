// A private CA for tests, made with the real openssl: server certificates for the test host names (and 127.0.0.1),
// and an agent client certificate whose key is encrypted with a passphrase, also packed as a PKCS#12 archive, as the
// agent's Agent.ClientCert / ClientCertKey / ClientCertArchive / ClientCertPassword hand them to a task.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Distinctive, so leak checks can grep every output and file for it. */
export const CLIENT_KEY_PASSPHRASE = 'cl1ent-Key-Outer-Loop-3c9d';

export interface ServerCertificate {
  certificate: string;
  key: string;
}

export interface ClientCertificate {
  certificate: string;
  /** PKCS#8, encrypted with `passphrase`. */
  key: string;
  /** PKCS#12 with certificate and key, encrypted with `passphrase`. */
  archive: string;
  passphrase: string;
}

export interface TestPki {
  dir: string;
  /** PEM of the CA certificate: what Agent.CAInfo names. */
  caCertificate: string;
  /** A server certificate signed by the CA for `names` (DNS names and IP addresses). */
  issueServer(name: string, names: string[]): Promise<ServerCertificate>;
  /** A client certificate signed by the CA, its key encrypted with CLIENT_KEY_PASSPHRASE. */
  issueClient(name: string): Promise<ClientCertificate>;
  remove(): void;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

/** Makes a CA (P-256, two days) in a new temp folder. */
export async function createTestPki(): Promise<TestPki> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-pki-'));
  const caKey = path.join(dir, 'ca-key.pem');
  const caCertificate = path.join(dir, 'ca.pem');
  await run('openssl', [
    'req',
    '-x509',
    ...EC_KEY,
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    caCertificate,
    '-days',
    '2',
    '-subj',
    '/CN=outerloop-test-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);

  const sign = async (csr: string, out: string, extensions: string) => {
    const extFile = `${out}.ext`;
    fs.writeFileSync(extFile, extensions);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caCertificate,
      '-CAkey',
      caKey,
      '-CAcreateserial',
      '-out',
      out,
      '-days',
      '2',
      '-extfile',
      extFile,
    ]);
  };

  return {
    dir,
    caCertificate,
    async issueServer(name, names) {
      const key = path.join(dir, `${name}-key.pem`);
      const csr = path.join(dir, `${name}.csr`);
      const certificate = path.join(dir, `${name}.pem`);
      await run('openssl', ['req', '-new', ...EC_KEY, '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${names[0]}`]);
      const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
      await sign(
        csr,
        certificate,
        `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
      );
      return { certificate, key };
    },
    async issueClient(name) {
      const key = path.join(dir, `${name}-key.pem`);
      const csr = path.join(dir, `${name}.csr`);
      const certificate = path.join(dir, `${name}.pem`);
      const archive = path.join(dir, `${name}.pfx`);
      // The passphrase goes through the environment, never argv.
      const env = { ...process.env, OUTERLOOP_PKI_PASS: CLIENT_KEY_PASSPHRASE };
      await run(
        'openssl',
        [
          'genpkey',
          '-algorithm',
          'EC',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-aes-256-cbc',
          '-pass',
          'env:OUTERLOOP_PKI_PASS',
          '-out',
          key,
        ],
        { env },
      );
      await run('openssl', ['req', '-new', '-key', key, '-passin', 'env:OUTERLOOP_PKI_PASS', '-out', csr, '-subj', `/CN=${name}`], { env });
      await sign(csr, certificate, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
      await run(
        'openssl',
        [
          'pkcs12',
          '-export',
          '-in',
          certificate,
          '-inkey',
          key,
          '-passin',
          'env:OUTERLOOP_PKI_PASS',
          '-passout',
          'env:OUTERLOOP_PKI_PASS',
          '-out',
          archive,
        ],
        { env },
      );
      return { certificate, key, archive, passphrase: CLIENT_KEY_PASSPHRASE };
    },
    remove() {
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A self-signed RSA certificate and its unencrypted key (PEM), made by openssl: a token issuer's signing certificate
 * (the registry trusts its x5c chain) or an AzureRM service principal's certificate.
 */
export async function selfSignedCertificate(subject: string): Promise<{ certificate: string; key: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-self-signed-'));
  try {
    const keyPath = path.join(dir, 'key.pem');
    const certPath = path.join(dir, 'cert.pem');
    await promisify(execFile)('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      certPath,
      '-days',
      '2',
      '-subj',
      `/CN=${subject}`,
    ]);
    return { certificate: fs.readFileSync(certPath, 'utf8'), key: fs.readFileSync(keyPath, 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
