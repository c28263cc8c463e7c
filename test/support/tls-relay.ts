// A TLS front for the local engine, as a remote engine started with --tlsverify looks to a client: a Node TLS server
// on a random loopback port that requires a client certificate from its own test CA and relays each connection to
// /var/run/docker.sock. Written in Node rather than with socat: socat's TLS listener drops the resumed sessions Node
// offers when a client certificate is required.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { needOrSkip } from './env';
import { listenOnLoopback } from './loopback';

export const ENGINE_SOCKET = '/var/run/docker.sock';

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made with openssl in a temp folder. */
export interface TestCertificates {
  /** The folder that holds everything, removed by `remove()`. */
  dir: string;
  /** A DOCKER_CERT_PATH for the client: ca.pem, cert.pem (client) and key.pem (client key). */
  clientDir: string;
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  remove(): void;
}

export function opensslAvailable(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function requireOpenssl(ctx: Mocha.Context): void {
  needOrSkip(ctx, opensslAvailable(), 'openssl (Debian package openssl)');
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A fresh CA signing one server and one client certificate (EC P-256, valid for a day). */
export function makeTestCertificates(name = 'outerloop-test'): TestCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-tls-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', `/CN=${name} CA`]);
  const sign = (who: string, subject: string, extensions: string) => {
    fs.writeFileSync(path.join(dir, `${who}.ext`), extensions);
    openssl(dir, ['req', ...ec, '-keyout', `${who}-key.pem`, '-out', `${who}.csr`, '-subj', subject]);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${who}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-out',
      `${who}-cert.pem`,
      '-days',
      '1',
      '-extfile',
      `${who}.ext`,
    ]);
  };
  sign('server', `/CN=${name} engine`, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  sign('client', `/CN=${name} client`, 'extendedKeyUsage=clientAuth\n');
  const read = (file: string) => fs.readFileSync(path.join(dir, file));
  const clientDir = path.join(dir, 'client');
  fs.mkdirSync(clientDir);
  // The file names the docker CLI looks for in DOCKER_CERT_PATH.
  fs.copyFileSync(path.join(dir, 'ca.pem'), path.join(clientDir, 'ca.pem'));
  fs.copyFileSync(path.join(dir, 'client-cert.pem'), path.join(clientDir, 'cert.pem'));
  fs.copyFileSync(path.join(dir, 'client-key.pem'), path.join(clientDir, 'key.pem'));
  return {
    dir,
    clientDir,
    ca: read('ca.pem'),
    serverCert: read('server-cert.pem'),
    serverKey: read('server-key.pem'),
    clientCert: read('client-cert.pem'),
    clientKey: read('client-key.pem'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsRelay {
  port: number;
  /** `tcp://127.0.0.1:PORT`, a DOCKER_HOST. */
  url: string;
  /** Connections that passed the handshake with a client certificate and were relayed to the engine. */
  readonly connections: number;
  /** Handshakes that failed (no client certificate, another CA, not TLS). */
  readonly rejected: number;
  /** Stops listening and cuts every relayed connection; the port then refuses. */
  stop(): Promise<void>;
}

/** Starts the relay on 127.0.0.1, a random port, in front of `target` (the engine's socket). */
export async function startTlsRelay(certificates: TestCertificates, target = ENGINE_SOCKET): Promise<TlsRelay> {
  let connections = 0;
  let rejected = 0;
  const open = new Set<net.Socket>();
  const server = tls.createServer(
    {
      key: certificates.serverKey,
      cert: certificates.serverCert,
      ca: certificates.ca,
      requestCert: true,
      rejectUnauthorized: true,
    },
    (client) => {
      connections++;
      const engine = net.connect(target);
      open.add(client);
      open.add(engine);
      const close = () => {
        client.destroy();
        engine.destroy();
        open.delete(client);
        open.delete(engine);
      };
      client.on('error', close);
      engine.on('error', close);
      client.on('close', close);
      engine.on('close', close);
      // Half-closes pass through (pipe ends the other side): a hijacked connection may close one way first.
      client.pipe(engine);
      engine.pipe(client);
    },
  );
  server.on('tlsClientError', () => {
    rejected++;
  });
  const port = await listenOnLoopback(server);
  let stopped: Promise<void> | undefined;
  return {
    port,
    url: `tcp://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get rejected() {
      return rejected;
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
        open.clear();
      });
      return stopped;
    },
  };
}

/**
 * A docker CLI config folder (a DOCKER_CONFIG) holding one context, laid out as `docker context create` writes it:
 * config.json with currentContext, contexts/meta/<sha256 of the name>/meta.json, and the TLS files under
 * contexts/tls/<sha256>/docker/. The caller removes the folder.
 */
export function writeDockerContext(
  configDir: string,
  context: { name: string; host: string; skipTLSVerify?: boolean; tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer }; current?: boolean },
): void {
  const id = createHash('sha256').update(context.name).digest('hex');
  const meta = path.join(configDir, 'contexts', 'meta', id);
  fs.mkdirSync(meta, { recursive: true });
  fs.writeFileSync(
    path.join(meta, 'meta.json'),
    JSON.stringify({
      Name: context.name,
      Metadata: { Description: 'outer loop test' },
      Endpoints: { docker: { Host: context.host, SkipTLSVerify: context.skipTLSVerify ?? false } },
    }),
  );
  if (context.tls) {
    const folder = path.join(configDir, 'contexts', 'tls', id, 'docker');
    fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
    for (const [file, bytes] of [
      ['ca.pem', context.tls.ca],
      ['cert.pem', context.tls.cert],
      ['key.pem', context.tls.key],
    ] as const) {
      if (bytes) fs.writeFileSync(path.join(folder, file), bytes, { mode: 0o600 });
    }
  }
  if (context.current) {
    const configFile = path.join(configDir, 'config.json');
    const config = fs.existsSync(configFile) ? JSON.parse(fs.readFileSync(configFile, 'utf8')) : {};
    fs.writeFileSync(configFile, JSON.stringify({ ...config, currentContext: context.name }, null, '\t'));
  }
}
