// A real forward proxy for tests: Debian's squid, started per suite on a random loopback port in its own temp folder,
// with basic proxy auth (basic_ncsa_auth over an htpasswd file), a hosts_file that maps the test names below to
// 127.0.0.1 (they resolve nowhere else, so a task reaches them only through the proxy), no cache and its own access
// log, which tests read to prove what went through it.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { forgetChild, killOnExit, stopChild } from './children';
import { needOrSkip, repoRoot } from './env';
import type { RunOptions, TaskRun } from './harness';
import { freeLoopbackPort } from './loopback';

export const SQUID_BINARY = '/usr/sbin/squid';
export const SQUID_AUTH_HELPER = '/usr/lib/squid/basic_ncsa_auth';

/** Names only the test proxy resolves (to 127.0.0.1). */
export const PROXIED_HOSTS = ['registry.outerloop.test', 'ado.outerloop.test', 'bypassed.outerloop.test'] as const;

/** Distinctive, so leak checks can grep every output and file for it. */
export const PROXY_USER = { username: 'agent-proxy', password: 'pr0xy-Outer-Loop-5e7a' };

const READY_TIMEOUT_MS = 20_000;

export interface AccessLogEntry {
  /** e.g. `TCP_TUNNEL/200`, `TCP_DENIED/407`. */
  result: string;
  status: number;
  method: string;
  /** `host:port` for CONNECT, the absolute URL otherwise. */
  url: string;
  /** The proxy user, `-` when none authenticated. */
  user: string;
}

export interface TestSquid {
  /** `http://127.0.0.1:PORT`, without credentials. */
  url: string;
  port: number;
  user: { username: string; password: string };
  /** Every request squid has logged so far (a tunnel is logged when it closes). */
  accessLog(): AccessLogEntry[];
  /**
   * The entries from index `from` on that match `predicate`, once there is at least one (a tunnel is logged when it
   * closes); throws with the whole log after `timeoutMs`.
   */
  waitForEntries(from: number, predicate: (entry: AccessLogEntry) => boolean, timeoutMs?: number): Promise<AccessLogEntry[]>;
  /** The folder with squid's config, logs and password file. */
  dir: string;
  stop(): Promise<void>;
}

export function squidAvailable(): boolean {
  return fs.existsSync(SQUID_BINARY) && fs.existsSync(SQUID_AUTH_HELPER);
}

/** Skips (or, in CI, fails) when squid is missing. */
export function requireSquid(ctx: Mocha.Context): void {
  needOrSkip(ctx, squidAvailable(), `squid (${SQUID_BINARY}, Debian package squid)`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** `$apr1$` (MD5) hash, one of the formats basic_ncsa_auth reads; the password goes through stdin, not argv. */
function apr1Hash(password: string): string {
  return execFileSync('openssl', ['passwd', '-apr1', '-stdin'], { input: `${password}\n`, encoding: 'utf8' }).trim();
}

function parseAccessLog(text: string): AccessLogEntry[] {
  // squid's native format: time elapsed client result/status bytes method url user hierarchy/peer type
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map((f) => ({ result: f[3], status: Number(f[3].split('/')[1]), method: f[5], url: f[6], user: f[7] }));
}

export async function startSquid(options: { user?: { username: string; password: string } } = {}): Promise<TestSquid> {
  if (!squidAvailable()) throw new Error(`${SQUID_BINARY} is not installed (Debian package squid)`);
  const user = options.user ?? PROXY_USER;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-squid-'));
  const accessLogPath = path.join(dir, 'access.log');
  fs.writeFileSync(path.join(dir, 'passwd'), `${user.username}:${apr1Hash(user.password)}\n`);
  fs.writeFileSync(path.join(dir, 'hosts'), `127.0.0.1 ${PROXIED_HOSTS.join(' ')}\n`);
  // As root, squid drops to its own user (Debian: proxy) before it opens logs and starts the auth helper.
  if (process.getuid?.() === 0) {
    const { uid, gid } = fs.statSync('/var/spool/squid');
    for (const entry of ['', 'passwd', 'hosts']) fs.chownSync(path.join(dir, entry), uid, gid);
  }

  for (let attempt = 1; ; attempt++) {
    const port = await freeLoopbackPort();
    const config = [
      `http_port 127.0.0.1:${port}`,
      `visible_hostname outerloop-test-squid`,
      `pid_filename ${path.join(dir, 'squid.pid')}`,
      `cache_log ${path.join(dir, 'cache.log')}`,
      `access_log stdio:${accessLogPath} squid`,
      `coredump_dir ${dir}`,
      `hosts_file ${path.join(dir, 'hosts')}`,
      // Names outside the hosts file must not resolve at all: ask a resolver that is not there.
      `dns_nameservers 127.0.0.1`,
      `dns_timeout 2 seconds`,
      `cache deny all`,
      `cache_mem 8 MB`,
      `memory_cache_shared off`,
      `netdb_filename none`,
      `pinger_enable off`,
      `icp_port 0`,
      `htcp_port 0`,
      `logfile_rotate 0`,
      // Whole URLs in the log: it is the tests' witness of what went through.
      `strip_query_terms off`,
      `shutdown_lifetime 0 seconds`,
      `max_filedescriptors 1024`,
      `auth_param basic program ${SQUID_AUTH_HELPER} ${path.join(dir, 'passwd')}`,
      `auth_param basic children 2 startup=1 idle=1`,
      `auth_param basic realm outerloop-test-proxy`,
      `acl authenticated proxy_auth REQUIRED`,
      // Every port may be tunnelled: test registries listen on random ports.
      `http_access allow authenticated`,
      `http_access deny all`,
    ].join('\n');
    const configPath = path.join(dir, 'squid.conf');
    fs.writeFileSync(configPath, `${config}\n`);

    let output = '';
    const child = spawn(SQUID_BINARY, ['-N', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-64 * 1024);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

    const deadline = Date.now() + READY_TIMEOUT_MS;
    let ready = false;
    while (!ready && Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
      ready = await canConnect(port);
      if (!ready) await new Promise((r) => setTimeout(r, 50));
    }
    if (!ready) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      forgetChild(child);
      const log = fs.existsSync(path.join(dir, 'cache.log')) ? fs.readFileSync(path.join(dir, 'cache.log'), 'utf8').slice(-4000) : '';
      if (attempt < 3 && /Address already in use/i.test(output + log)) continue;
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`squid did not listen on 127.0.0.1:${port}:\n${output}\n${log}`);
    }

    const accessLog = () => (fs.existsSync(accessLogPath) ? parseAccessLog(fs.readFileSync(accessLogPath, 'utf8')) : []);
    let stopped: Promise<void> | undefined;
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      user,
      dir,
      accessLog,
      async waitForEntries(from, predicate, timeoutMs = 30_000) {
        const until = Date.now() + timeoutMs;
        for (;;) {
          const found = accessLog().slice(from).filter(predicate);
          if (found.length > 0) return found;
          if (Date.now() > until)
            throw new Error(
              `squid logged no such request; its log:\n${fs.existsSync(accessLogPath) ? fs.readFileSync(accessLogPath, 'utf8') : '(none)'}`,
            );
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      stop() {
        stopped ??= (async () => {
          await stopChild(child, exited);
          fs.rmSync(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  }
}

// ---- names only the engine resolves ------------------------------------------------------------------------------

const HOSTS_FILE = '/etc/hosts';
const HOSTS_MARKER_PREFIX = '# outerloop-test squid.ts ';
/** Marks the /etc/hosts line a suite adds, so it goes whatever happens. */
const HOSTS_MARKER = `${HOSTS_MARKER_PREFIX}${process.pid}`;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes lines an earlier run added and could not remove (it was killed before its exit handler ran): the test names
 * must resolve nowhere but in squid. Machines are reused, so every suite that relies on that clears them first.
 */
export function removeStaleHostsLines(): void {
  let text: string;
  try {
    text = fs.readFileSync(HOSTS_FILE, 'utf8');
  } catch {
    return;
  }
  const stale = (line: string) => {
    const at = line.indexOf(HOSTS_MARKER_PREFIX);
    return at >= 0 && !processAlive(Number(line.slice(at + HOSTS_MARKER_PREFIX.length).trim()));
  };
  const lines = text.split('\n');
  if (lines.some(stale)) fs.writeFileSync(HOSTS_FILE, lines.filter((line) => !stale(line)).join('\n'));
}

function removeHostsLine(): void {
  const text = fs.readFileSync(HOSTS_FILE, 'utf8');
  if (text.includes(HOSTS_MARKER))
    fs.writeFileSync(
      HOSTS_FILE,
      text
        .split('\n')
        .filter((line) => !line.includes(HOSTS_MARKER))
        .join('\n'),
    );
}

/** True when this process may give a child its own mount namespace (root, util-linux unshare). */
export function mountNamespacesAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('unshare', ['--mount', '--', 'true'], { stdio: 'ignore' }).status === 0;
}

/**
 * For `body`, maps `names` to 127.0.0.1 in the machine's /etc/hosts, where the Docker engine looks them up (it treats
 * a registry on 127.0.0.0/8 as insecure and pushes to it), and hands `body` a task runner that starts the bundled task
 * in its own mount namespace (`unshare --mount`) with the original /etc/hosts bind-mounted over the changed one: there
 * the names resolve nowhere, so the task reaches them only through a proxy. The line is removed afterwards (and on
 * exit); the bind mount dies with the namespace.
 */
export async function withNamesOnlyTheEngineResolves<T>(
  names: readonly string[],
  body: (runTask: (task: string, options: RunOptions) => Promise<TaskRun>) => Promise<T>,
): Promise<T> {
  const original = fs.readFileSync(HOSTS_FILE, 'utf8');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outerloop-hosts-'));
  const taskHosts = path.join(dir, 'hosts');
  fs.writeFileSync(taskHosts, original);
  process.once('exit', removeHostsLine);
  fs.appendFileSync(HOSTS_FILE, `${original.endsWith('\n') ? '' : '\n'}127.0.0.1 ${names.join(' ')} ${HOSTS_MARKER}\n`);
  // Go (the engine) re-reads /etc/hosts when its cached copy is older than 5 s.
  await new Promise((r) => setTimeout(r, 5_500));
  const runInNamespace = (task: string, options: RunOptions) =>
    new Promise<TaskRun>((resolve, reject) => {
      const script = [
        `const { runBundledTask } = require(${JSON.stringify(path.join(repoRoot, 'test', 'support', 'harness.ts'))});`,
        `let input = ''; process.stdin.on('data', (c) => (input += c)).on('end', () => {`,
        `  const { task, options } = JSON.parse(input);`,
        `  runBundledTask(task, options).then((run) => process.stdout.write(JSON.stringify(run)), (e) => { console.error(e); process.exit(1); });`,
        `});`,
      ].join('\n');
      const child = spawn(
        'unshare',
        [
          '--mount',
          '--',
          '/bin/sh',
          '-c',
          'mount --bind "$0" /etc/hosts && exec "$@"',
          taskHosts,
          process.execPath,
          '-r',
          require.resolve('tsx/cjs'),
          '-e',
          script,
        ],
        { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
      child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0
          ? resolve(JSON.parse(out) as TaskRun)
          : reject(new Error(`the task runner in its own mount namespace exited ${code}:\n${err}`)),
      );
      // Options (secrets included) go through stdin, not the environment the task would inherit.
      child.stdin.end(JSON.stringify({ task, options }));
    });
  try {
    return await body(runInNamespace);
  } finally {
    removeHostsLine();
    process.removeListener('exit', removeHostsLine);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
