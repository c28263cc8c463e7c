import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'yaml';
import { forgetChild, killOnExit, stopChild } from './children';
import { needOrSkip } from './env';
import { freeLoopbackPort } from './loopback';
import { selfSignedCertificate } from './tls';
import { startTokenIssuer, type TokenIssuer, type TestUser } from './token-issuer';

export type { TestUser } from './token-issuer';

/**
 * Real distribution registries (Debian's docker-registry, v2.8) on 127.0.0.1 for tests: anonymous, htpasswd (Basic)
 * and token (Bearer, with our own issuer). Each has its own config dir and storage dir under os.tmpdir(), and
 * `delete: enabled: true`.
 */

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

export type RegistryKind = 'anonymous' | 'htpasswd' | 'token';

export interface StartRegistryOptions {
  /** Defaults: `DEFAULT_USERS[kind]`. For 'htpasswd' grants are ignored (every valid user may do anything). */
  users?: TestUser[];
  /** 'token' only: access token lifetime in seconds (default 300). */
  tokenExpiresIn?: number;
  /** 'token' only: grants for token requests without credentials (default none). */
  anonymousGrants?: Record<string, string[]>;
  /** 'token' only: the host the challenge's realm names instead of 127.0.0.1 (the issuer still listens there). */
  tokenRealmHost?: string;
  /**
   * 'token' only: the whole realm the challenge names, for a token service in front of the issuer (the ACR-like one of
   * acr-registry.ts answers `/oauth2/token` on the registry's own origin and asks the issuer behind it).
   */
  tokenRealm?: string;
  /** Serve HTTPS with this certificate (PEM files); with `clientCAs` the registry also requires a client certificate. */
  tls?: { certificate: string; key: string; clientCAs?: string[] };
  /**
   * Serve this storage folder instead of a new one (left in place on stop): e.g. an HTTPS twin of a plain registry,
   * so tests seed and check through the plain one and the task talks TLS to the twin.
   */
  storageDir?: string;
}

export interface TestRegistry {
  kind: RegistryKind;
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` (`https://` with the `tls` option) */
  url: string;
  /** Empty for 'anonymous'. `users[0]` may push and pull everywhere. */
  users: TestUser[];
  /** 'token' only: the issuer named as realm, with its log of issued tokens. */
  tokenIssuer?: TokenIssuer;
  /** The `service` of the Bearer challenge ('token' only). */
  service?: string;
  configPath: string;
  storageDir: string;
  /** What the registry process printed so far (tail), for failure messages. */
  output(): string;
  /** Every secret a test may grep outputs for: passwords, base64 `user:password`, issued tokens. */
  secrets(): string[];
  stop(): Promise<void>;
}

/** Distinctive passwords so secret-leak tests can grep outputs for them. */
export const PROMOTER_PASSWORD = 's3cr3t-Outer-Loop-9f2c';
export const READER_PASSWORD = 'r3ad-Only-Outer-Loop-7b1e';
export const SCOPED_PASSWORD = 'sc0ped-Outer-Loop-4d8a';

export const DEFAULT_USERS: Record<RegistryKind, TestUser[]> = {
  anonymous: [],
  htpasswd: [
    { username: 'promoter', password: PROMOTER_PASSWORD },
    { username: 'reader', password: READER_PASSWORD },
  ],
  token: [
    { username: 'promoter', password: PROMOTER_PASSWORD, grants: { '*': ['pull', 'push', 'delete'] } },
    { username: 'reader', password: READER_PASSWORD, grants: { '*': ['pull'] } },
    // Can push under team/ and scoped/, only pull elsewhere.
    {
      username: 'scoped',
      password: SCOPED_PASSWORD,
      grants: { 'team/*': ['pull', 'push'], 'scoped/*': ['pull', 'push'], '*': ['pull'] },
    },
  ],
};

export const TOKEN_SERVICE = 'outerloop-test-registry';
export const TOKEN_ISSUER = 'outerloop-test-issuer';

/** Basic credentials of a registry user, looked up by name. */
export function userOf(registry: TestRegistry, username: string): TestUser {
  const user = registry.users.find((u) => u.username === username);
  if (!user) throw new Error(`test registry (${registry.kind}) has no user '${username}'`);
  return user;
}

export function registryAvailable(): boolean {
  return fs.existsSync(REGISTRY_BINARY);
}

/** Skips (or, in CI, fails) when the registry binary is missing. */
export function requireRegistry(ctx: Mocha.Context): void {
  needOrSkip(ctx, registryAvailable(), `distribution registry (${REGISTRY_BINARY}, Debian package docker-registry)`);
}

const READY_TIMEOUT_MS = 20_000;
const OUTPUT_LIMIT = 256 * 1024;

/**
 * bcrypt hash for an htpasswd file. distribution only accepts bcrypt there; Debian's libxcrypt implements it in
 * crypt(3), reached through perl (perl-base is essential on Debian), so no new dependency is needed.
 * Falls back to `htpasswd -nbB` (apache2-utils) if the result is not a bcrypt hash.
 */
export function bcryptHash(password: string): string {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = crypto.randomBytes(22);
  // The 22nd salt character carries only 2 bits; use a canonical one.
  const salt = Array.from(bytes.subarray(0, 21), (b) => alphabet[b & 63]).join('') + '.Oeu'[bytes[21] & 3];
  const hashShape = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
  try {
    const hash = execFileSync('perl', ['-e', 'chomp(my $p = <STDIN>); print crypt($p, $ARGV[0]) // ""', `$2b$05$${salt}`], {
      input: `${password}\n`,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    if (hashShape.test(hash)) return hash;
  } catch {
    // fall through to htpasswd
  }
  try {
    const line = execFileSync('htpasswd', ['-niB', '-C', '5', 'user'], {
      input: password,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    }).trim();
    const hash = line.slice(line.indexOf(':') + 1);
    if (hashShape.test(hash)) return hash;
  } catch {
    // reported below
  }
  throw new Error('cannot make a bcrypt hash: neither perl crypt() ($2b$) nor htpasswd (apache2-utils) works');
}

async function makeCertificate(dir: string): Promise<{ keyPath: string; certPath: string }> {
  const keyPath = path.join(dir, 'issuer-key.pem');
  const certPath = path.join(dir, 'issuer-cert.pem');
  const { certificate, key } = await selfSignedCertificate('outerloop-test-token-issuer');
  fs.writeFileSync(keyPath, key);
  fs.writeFileSync(certPath, certificate);
  return { keyPath, certPath };
}

function registryEnv(): NodeJS.ProcessEnv {
  // distribution reads REGISTRY_* variables as config overrides: none may leak in from the caller.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;
  return env;
}

async function waitReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output()}`);
    }
    try {
      // Over TLS (a private CA, maybe a client certificate required) the listening socket is the readiness signal.
      if (url.startsWith('https:')) {
        const { hostname, port } = new URL(url);
        await new Promise<void>((resolve, reject) =>
          net
            .connect(Number(port), hostname)
            .once('connect', function (this: net.Socket) {
              this.destroy();
              resolve();
            })
            .once('error', reject),
        );
        return;
      }
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer on ${url} within ${READY_TIMEOUT_MS / 1000}s:\n${output()}`);
}

export async function startRegistry(kind: RegistryKind, options: StartRegistryOptions = {}): Promise<TestRegistry> {
  if (!registryAvailable()) throw new Error(`${REGISTRY_BINARY} is not installed (Debian package docker-registry)`);
  const users = options.users ?? DEFAULT_USERS[kind];
  const configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-registry-config-'));
  const storageDir = options.storageDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-registry-storage-'));
  const cleanupDirs = () => {
    fs.rmSync(configDir, { recursive: true, force: true });
    if (!options.storageDir) fs.rmSync(storageDir, { recursive: true, force: true });
  };
  let tokenIssuer: TokenIssuer | undefined;

  try {
    let auth: Record<string, unknown> | undefined;
    if (kind === 'htpasswd') {
      const htpasswdPath = path.join(configDir, 'htpasswd');
      fs.writeFileSync(htpasswdPath, users.map((u) => `${u.username}:${bcryptHash(u.password)}\n`).join(''), {
        mode: 0o600,
      });
      auth = { htpasswd: { realm: 'outerloop-test', path: htpasswdPath } };
    } else if (kind === 'token') {
      const { keyPath, certPath } = await makeCertificate(configDir);
      tokenIssuer = await startTokenIssuer({
        service: TOKEN_SERVICE,
        issuer: TOKEN_ISSUER,
        keyPem: fs.readFileSync(keyPath, 'utf8'),
        certPem: fs.readFileSync(certPath, 'utf8'),
        users,
        expiresIn: options.tokenExpiresIn,
        anonymousGrants: options.anonymousGrants,
      });
      auth = {
        token: {
          realm:
            options.tokenRealm ??
            (options.tokenRealmHost ? tokenIssuer.realm.replace('//127.0.0.1:', `//${options.tokenRealmHost}:`) : tokenIssuer.realm),
          service: TOKEN_SERVICE,
          issuer: TOKEN_ISSUER,
          rootcertbundle: certPath,
        },
      };
    }

    const configPath = path.join(configDir, 'config.yml');
    for (let attempt = 1; ; attempt++) {
      const port = await freeLoopbackPort();
      const host = `127.0.0.1:${port}`;
      const url = `${options.tls ? 'https' : 'http'}://${host}`;
      const config: Record<string, unknown> = {
        version: 0.1,
        log: { level: 'info', formatter: 'text', accesslog: { disabled: true } },
        storage: { filesystem: { rootdirectory: storageDir }, delete: { enabled: true } },
        http: { addr: host, secret: crypto.randomBytes(16).toString('hex') },
      };
      if (auth) config.auth = auth;
      if (options.tls) {
        const { certificate, key, clientCAs } = options.tls;
        (config.http as Record<string, unknown>).tls = { certificate, key, ...(clientCAs ? { clientcas: clientCAs } : {}) };
      }
      fs.writeFileSync(configPath, yaml.stringify(config, { version: '1.1' }));

      let output = '';
      const child = spawn(REGISTRY_BINARY, ['serve', configPath], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: registryEnv(),
      });
      killOnExit(child, cleanupDirs);
      const collect = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', collect);
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

      try {
        await waitReady(url, child, () => output);
      } catch (err) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
        forgetChild(child);
        // Another process may have taken the port between freeLoopbackPort() and the registry's bind.
        if (attempt < 3 && /address already in use/.test(output)) continue;
        throw err;
      }

      const issuer = tokenIssuer;
      let stopped: Promise<void> | undefined;
      const registry: TestRegistry = {
        kind,
        host,
        url,
        users,
        tokenIssuer: issuer,
        service: kind === 'token' ? TOKEN_SERVICE : undefined,
        configPath,
        storageDir,
        output: () => output,
        secrets() {
          const values = users.flatMap((u) => [u.password, Buffer.from(`${u.username}:${u.password}`).toString('base64')]);
          return [...values, ...(issuer?.tokens() ?? [])];
        },
        stop() {
          stopped ??= (async () => {
            await stopChild(child, exited);
            await issuer?.stop();
            cleanupDirs();
          })();
          return stopped;
        },
      };
      return registry;
    }
  } catch (err) {
    await tokenIssuer?.stop();
    cleanupDirs();
    throw err;
  }
}

const shared = new Map<RegistryKind, Promise<TestRegistry>>();

/**
 * One registry of each kind per test process, started on first use and stopped by `stopSharedRegistries` (a root
 * `afterAll` hook). Tests sharing it must use their own repository names.
 */
export function sharedRegistry(kind: RegistryKind): Promise<TestRegistry> {
  let registry = shared.get(kind);
  if (!registry) {
    registry = startRegistry(kind);
    shared.set(kind, registry);
    // A failed start is not cached, so the next test reports the failure itself.
    registry.catch(() => shared.delete(kind));
  }
  return registry;
}

/** Stops every shared registry; meant for `mochaHooks.afterAll`. */
export async function stopSharedRegistries(): Promise<void> {
  const started = [...shared.values()];
  shared.clear();
  const settled = await Promise.allSettled(started);
  await Promise.all(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.stop()] : [])));
}
