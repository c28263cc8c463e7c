// A real SSH server in front of the local engine, as a remote engine at DOCKER_HOST=ssh://user@host looks to a client:
// Debian's sshd, started per suite on a random loopback port in its own temp folder with its own host key, accepting
// only a freshly generated client key (public-key authentication, no passwords, no PAM), and an ssh-agent holding that
// key, which is where docker-modem takes its credentials from (SSH_AUTH_SOCK). The remote command, `docker system
// dial-stdio`, runs on this machine and reaches the local engine. sshd logs to stderr (-e), which tests read to prove
// a connection went through it and with which key. The tasks check sshd's host key against known_hosts in their HOME,
// as the ssh the docker CLI runs does: knownHostsLine() is the line `ssh-keyscan` would give for it, and homeWith()
// makes a HOME whose ~/.ssh/known_hosts holds the lines given.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { killOnExit, stopChild } from './children';
import { needOrSkip } from './env';
import { freeLoopbackPort } from './loopback';

export const SSHD_BINARY = '/usr/sbin/sshd';
/** sshd's privilege separation directory (Debian's systemd unit creates it; without systemd nothing does). */
const PRIVSEP_DIR = '/run/sshd';
/** Where sshd's sessions (PATH /usr/local/bin:/usr/bin:…) find the docker CLI that runs `docker system dial-stdio`. */
const DOCKER_CLI_PATHS = ['/usr/local/bin/docker', '/usr/bin/docker'];

/** sshd's line for a login with a key: the user, and the key's fingerprint last (`… ssh2: ED25519 SHA256:…`). */
export const ACCEPTED_KEY = /^Accepted publickey for (\S+) from 127\.0\.0\.1 port \d+ ssh2: \S+ (\S+)$/;

const READY_TIMEOUT_MS = 20_000;

/** An ssh-agent on its own socket, holding one key. */
export interface TestSshAgent {
  /** The SSH_AUTH_SOCK a client uses. */
  socket: string;
  /** The private key file's text, for leak checks: no task output or file may contain it. */
  privateKey: string;
  /** `SHA256:…`, as sshd logs it when the key is accepted. */
  fingerprint: string;
  stop(): Promise<void>;
}

/** One of sshd's host keys. */
export interface TestHostKey {
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, … */
  type: string;
  /** `<type> <base64>`, the public key as known_hosts holds it. */
  publicKey: string;
  /** `SHA256:…` */
  fingerprint: string;
}

export interface TestSshd {
  /** `ssh://<user>@127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Its host keys, in the order given to startSshd. */
  hostKeys: TestHostKey[];
  /** `[127.0.0.1]:<port> <type> <base64>` for each host key (or the one of `type`), one per line. */
  knownHostsLine(type?: string): string;
  /** The user sshd lets in: the one this process runs as. */
  user: string;
  /** An ssh-agent holding the key sshd accepts. */
  agent: TestSshAgent;
  /** sshd's log so far. */
  log(): string;
  /**
   * The lines sshd logged from character `from` of its log on that match `pattern`, once there is at least one (sshd's
   * children write to the pipe this process reads as they go); throws with the whole log after `timeoutMs`.
   */
  waitForLines(from: number, pattern: RegExp, timeoutMs?: number): Promise<string[]>;
  /** The folder with the config, the host key, the authorized keys and the agent. */
  dir: string;
  stop(): Promise<void>;
}

function missingParts(): string[] {
  const missing: string[] = [];
  if (!fs.existsSync(SSHD_BINARY)) missing.push(`${SSHD_BINARY} (Debian package openssh-server)`);
  for (const tool of ['ssh-keygen', 'ssh-agent', 'ssh-add']) if (!onPath(tool)) missing.push(`${tool} (Debian package openssh-client)`);
  if (!DOCKER_CLI_PATHS.some((file) => fs.existsSync(file)))
    missing.push(`the docker CLI in ${DOCKER_CLI_PATHS.join(' or ')} (Debian package docker.io)`);
  return missing;
}

function onPath(tool: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && fs.existsSync(path.join(dir, tool)));
}

export function sshdAvailable(): boolean {
  return missingParts().length === 0;
}

/** Skips (or, in CI, fails) when sshd, the OpenSSH client tools or the docker CLI are missing. */
export function requireSshd(ctx: Mocha.Context): void {
  needOrSkip(ctx, sshdAvailable(), `an SSH server for the engine: ${missingParts().join(', ') || 'sshd'}`);
}

/** True once something on `port` greets as an SSH server does (`SSH-2.0-…`). */
function greetsAsSsh(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let banner = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.on('data', (chunk: Buffer) => {
      banner += chunk.toString('latin1');
      if (banner.includes('\n')) done(banner.startsWith('SSH-2.0-'));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

export type TestKeyType = 'ed25519' | 'ecdsa' | 'rsa';

/** Writes a new key pair to `file` and `file`.pub with ssh-keygen. */
function keygen(file: string, comment: string, type: TestKeyType = 'ed25519'): void {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', comment, '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** The fingerprint ssh-keygen prints for a public key file, `SHA256:…`. */
function fingerprint(publicKeyFile: string): string {
  // `256 SHA256:… comment (ED25519)`
  return execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyFile], { encoding: 'utf8' }).split(' ')[1];
}

/** A fresh key pair in `dir` (named `name`), described as sshd's host keys are. */
export function makeTestKey(dir: string, name: string, type: TestKeyType = 'ed25519'): TestHostKey {
  const file = path.join(dir, name);
  keygen(file, `outerloop-test-${name}`, type);
  const [keyType, base64] = fs.readFileSync(`${file}.pub`, 'utf8').trim().split(' ');
  return { type: keyType, publicKey: `${keyType} ${base64}`, fingerprint: fingerprint(`${file}.pub`) };
}

/** A HOME folder in `parent` whose .ssh/known_hosts holds `lines` (an empty file for none); returns its path. */
export function homeWith(parent: string, lines: string[]): string {
  const home = fs.mkdtempSync(path.join(parent, 'home-'));
  fs.mkdirSync(path.join(home, '.ssh'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.ssh', 'known_hosts'), lines.map((line) => `${line}\n`).join(''));
  return home;
}

/**
 * An ssh-agent on a socket in `dir`, holding a fresh ed25519 key (its files in `dir` too, named `name`). The agent runs
 * in the foreground (-D), so it is this process's child and goes with it.
 */
export async function startSshAgent(dir: string, name = 'client'): Promise<TestSshAgent> {
  const keyFile = path.join(dir, `${name}-key`);
  keygen(keyFile, `outerloop-test-${name}`);
  const socket = path.join(dir, `${name}-agent.sock`);
  const child = spawn('ssh-agent', ['-D', '-a', socket], { stdio: ['ignore', 'ignore', 'pipe'] });
  killOnExit(child);
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!fs.existsSync(socket) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  if (!fs.existsSync(socket)) {
    await stopChild(child, exited);
    throw new Error(`ssh-agent did not create ${socket}:\n${output}`);
  }
  execFileSync('ssh-add', [keyFile], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stopped: Promise<void> | undefined;
  return {
    socket,
    privateKey: fs.readFileSync(keyFile, 'utf8'),
    fingerprint: fingerprint(`${keyFile}.pub`),
    stop() {
      stopped ??= stopChild(child, exited);
      return stopped;
    },
  };
}

/**
 * Starts sshd on 127.0.0.1 at a free port, with an ssh-agent holding the one key it accepts. `extraConfig`: more
 * sshd_config lines (`SetEnv PATH=…`); `hostKeyTypes`: its host keys (default one ed25519 key).
 */
export async function startSshd(options: { extraConfig?: string[]; hostKeyTypes?: TestKeyType[] } = {}): Promise<TestSshd> {
  const missing = missingParts();
  if (missing.length > 0) throw new Error(`cannot start an SSH server: missing ${missing.join(', ')}`);
  const user = os.userInfo().username;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-sshd-'));
  // As root, sshd refuses to start without it (`Missing privilege separation directory`); root-owned, not writable by others.
  if (process.getuid?.() === 0) fs.mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
  const hostKeyTypes = options.hostKeyTypes ?? ['ed25519'];
  const hostKeys = hostKeyTypes.map((type) => makeTestKey(dir, `host-key-${type}`, type));
  let agent: TestSshAgent | undefined;
  try {
    agent = await startSshAgent(dir);
    const authorizedKeys = path.join(dir, 'authorized_keys');
    fs.copyFileSync(path.join(dir, 'client-key.pub'), authorizedKeys);

    for (let attempt = 1; ; attempt++) {
      const port = await freeLoopbackPort();
      const config = [
        `ListenAddress 127.0.0.1:${port}`,
        ...hostKeyTypes.map((type) => `HostKey ${path.join(dir, `host-key-${type}`)}`),
        `PidFile ${path.join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        // The temp folder is not laid out as a home's .ssh is; sshd would refuse the key file's modes otherwise.
        `StrictModes no`,
        `PubkeyAuthentication yes`,
        `PasswordAuthentication no`,
        `KbdInteractiveAuthentication no`,
        `UsePAM no`,
        `PermitRootLogin prohibit-password`,
        `AllowUsers ${user}`,
        `AllowTcpForwarding no`,
        `X11Forwarding no`,
        `PrintMotd no`,
        // VERBOSE adds the fingerprint of each key offered and refused (`Failed publickey for …`).
        `LogLevel VERBOSE`,
        ...(options.extraConfig ?? []),
      ].join('\n');
      const configPath = path.join(dir, 'sshd_config');
      fs.writeFileSync(configPath, `${config}\n`);
      execFileSync(SSHD_BINARY, ['-t', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });

      let output = '';
      const child = spawn(SSHD_BINARY, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
      killOnExit(child);
      // sshd ends the lines it logs to stderr with \r\n.
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8').replace(/\r/g, '')));
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

      const deadline = Date.now() + READY_TIMEOUT_MS;
      let ready = false;
      while (!ready && Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
        ready = await greetsAsSsh(port);
        if (!ready) await new Promise((r) => setTimeout(r, 50));
      }
      if (!ready) {
        await stopChild(child, exited);
        if (attempt < 3 && /Address already in use/i.test(output)) continue;
        throw new Error(`sshd did not listen on 127.0.0.1:${port}:\n${output}`);
      }

      const started = agent;
      let stopped: Promise<void> | undefined;
      return {
        url: `ssh://${user}@127.0.0.1:${port}`,
        port,
        hostKeys,
        knownHostsLine: (type) =>
          hostKeys
            .filter((key) => !type || key.type === type)
            .map((key) => `[127.0.0.1]:${port} ${key.publicKey}`)
            .join('\n'),
        user,
        agent: started,
        dir,
        log: () => output,
        async waitForLines(from, pattern, timeoutMs = 30_000) {
          const until = Date.now() + timeoutMs;
          for (;;) {
            const found = output
              .slice(from)
              .split('\n')
              .filter((line) => pattern.test(line));
            if (found.length > 0) return found;
            if (Date.now() > until) throw new Error(`sshd logged no line matching ${pattern}; its log:\n${output}`);
            await new Promise((r) => setTimeout(r, 50));
          }
        },
        stop() {
          stopped ??= (async () => {
            await stopChild(child, exited);
            await started.stop();
            fs.rmSync(dir, { recursive: true, force: true });
          })();
          return stopped;
        },
      };
    }
  } catch (error) {
    await agent?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
