// Host-key verification for ssh:// engines, as OpenSSH's client does it: the host's key must be listed for it in the
// user's or the system's known_hosts (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"; the rules below follow OpenSSH's
// hostfile.c and match.c). A host listed with other keys only is refused as changed, an unlisted one as unknown (the
// `ssh` the docker CLI runs refuses both without a terminal to ask on), a key marked @revoked always. Certificates
// are not supported: ssh2 does not ask for them, so @cert-authority lines vouch for nothing, as for an OpenSSH client
// offered a plain key.
import { createHash, createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ServerHostKeyAlgorithm } from 'ssh2';

/** One key line of a known_hosts file. */
export interface KnownHostEntry {
  file: string;
  /** 1-based. */
  line: number;
  marker?: '@cert-authority' | '@revoked';
  /** The host field as written: comma-separated patterns, or one hashed name (`|1|salt|hmac`). */
  hosts: string;
  /** `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, … */
  keyType: string;
  /** The key blob (the base64 field, decoded). */
  key: Buffer;
}

/** A known_hosts file that was looked at, and why it gave no keys when it did not. */
export interface KnownHostsFile {
  path: string;
  /** Unset when the file was read; `absent`, or the reason it could not be read (`EACCES`). */
  problem?: string;
}

export interface KnownHosts {
  files: KnownHostsFile[];
  entries: KnownHostEntry[];
}

/** The name a host goes by in known_hosts: `host` on port 22, `[host]:port` on any other, lower case. */
export function knownHostsName(host: string, port: number): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return port === 22 ? bare : `[${bare}]:${port}`;
}

/**
 * OpenSSH's default files, in its order (UserKnownHostsFile, then GlobalKnownHostsFile): the user's in `home`, the
 * system's in /etc/ssh (`%ProgramData%\ssh` on Windows, as OpenSSH for Windows has them).
 *
 * `home` defaults to HOME (os.homedir()), where an earlier script step's `ssh-keyscan … >> ~/.ssh/known_hosts`
 * writes. OpenSSH's ssh takes the home from the password database instead; the two differ only where HOME was changed.
 */
export function knownHostsFiles(home: string = os.homedir(), env: NodeJS.ProcessEnv = process.env): string[] {
  const system = process.platform === 'win32' ? path.join(env.ProgramData ?? 'C:\\ProgramData', 'ssh') : '/etc/ssh';
  return [
    path.join(home, '.ssh', 'known_hosts'),
    path.join(home, '.ssh', 'known_hosts2'),
    path.join(system, 'ssh_known_hosts'),
    path.join(system, 'ssh_known_hosts2'),
  ];
}

/** Reads `files`; one that is absent or unreadable gives no keys, as in OpenSSH. */
export function readKnownHosts(files: readonly string[]): KnownHosts {
  const result: KnownHosts = { files: [], entries: [] };
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      result.files.push({ path: file, problem: code === 'ENOENT' ? 'absent' : (code ?? String(error)) });
      continue;
    }
    result.files.push({ path: file });
    result.entries.push(...parseKnownHosts(text, file));
  }
  return result;
}

/**
 * The key lines of a known_hosts file. Comments, blank lines and lines OpenSSH would not parse (an unknown or second
 * marker, a key whose base64 does not decode or whose blob names another type than the line, the old RSA1 form) are
 * left out, as OpenSSH skips them.
 */
export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, index) => {
    const fields = raw.split(/[ \t\r]+/).filter(Boolean);
    if (fields.length === 0 || fields[0].startsWith('#')) return;
    let marker: KnownHostEntry['marker'];
    if (fields[0].startsWith('@')) {
      if (fields[0] !== '@cert-authority' && fields[0] !== '@revoked') return;
      marker = fields.shift() as KnownHostEntry['marker'];
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || hosts.startsWith('@') || !keyType || !base64) return;
    const key = decodeBase64(base64);
    if (!key || keyTypeOf(key) !== keyType) return;
    entries.push({ file, line: index + 1, ...(marker ? { marker } : {}), hosts, keyType, key });
  });
  return entries;
}

function decodeBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.length > 0 ? bytes : undefined;
}

/** The type an SSH public key blob names in its first field (`ssh-ed25519`); undefined when it is not a key blob. */
export function keyTypeOf(key: Buffer): string | undefined {
  if (key.length < 4) return undefined;
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > key.length) return undefined;
  const type = key.subarray(4, 4 + length).toString('latin1');
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

/** A key's fingerprint as OpenSSH prints it: `SHA256:` and the unpadded base64 of the blob's SHA-256. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/**
 * True when a known_hosts host field names `name` (from {@link knownHostsName}): a hashed name must be the HMAC-SHA1
 * of `name` under its salt; otherwise one of the comma-separated patterns (`*` and `?` wildcards, case ignored) must
 * match it and no negated one (`!pattern`) may.
 */
export function hostFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) return hashedNameMatches(hosts, name);
  const host = name.toLowerCase();
  let positive = false;
  for (const item of hosts.toLowerCase().split(',')) {
    const negated = item.startsWith('!');
    if (!wildcardMatches(host, negated ? item.slice(1) : item)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

/** OpenSSH's hashed names (HashKnownHosts, `ssh-keygen -H`): `|1|` base64(salt) `|` base64(HMAC-SHA1(salt, name)). */
function hashedNameMatches(field: string, name: string): boolean {
  const parts = /^\|1\|([^|]+)\|/.exec(field);
  const salt = parts ? decodeBase64(parts[1]) : undefined;
  if (!salt || salt.length !== 20) return false;
  const hash = createHmac('sha1', salt).update(name.toLowerCase()).digest('base64');
  return field === `|1|${salt.toString('base64')}|${hash}`;
}

/** `*` matches any run of characters, `?` any one; nothing else is special (OpenSSH's match_pattern). */
function wildcardMatches(text: string, pattern: string): boolean {
  let t = 0;
  let p = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      t++;
      p++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/** What the known_hosts files say about the key a host offered. */
export type HostKeyVerdict =
  | { status: 'ok'; entry: KnownHostEntry }
  /** The host is listed with other keys only. */
  | { status: 'changed'; listed: KnownHostEntry[] }
  /** A line for the host marks this very key @revoked. */
  | { status: 'revoked'; entry: KnownHostEntry }
  /** No key is listed for the host; `authorities`: its @cert-authority lines, which vouch for no plain key. */
  | { status: 'unknown'; authorities: KnownHostEntry[] };

/** Checks the key `name` offered against `entries`, as OpenSSH's check_key_in_hostkeys does. */
export function checkHostKey(entries: readonly KnownHostEntry[], name: string, key: Buffer): HostKeyVerdict {
  const forHost = entries.filter((entry) => hostFieldMatches(entry.hosts, name));
  const revoked = forHost.find((entry) => entry.marker === '@revoked' && entry.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const listed = forHost.filter((entry) => !entry.marker);
  const same = listed.find((entry) => entry.key.equals(key));
  if (same) return { status: 'ok', entry: same };
  if (listed.length > 0) return { status: 'changed', listed };
  return { status: 'unknown', authorities: forHost.filter((entry) => entry.marker === '@cert-authority') };
}

/** The host-key algorithms of ssh2's default list that prove a key of each type, in ssh2's order of preference. */
const ALGORITHMS_BY_KEY_TYPE: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/**
 * The host-key algorithms to ask for first: those of the key types listed for `name`, as OpenSSH orders them
 * (order_hostkeyalgs), so a host with several keys shows the one known_hosts has rather than look changed.
 * Undefined when none is listed (ssh2's default order).
 */
export function preferredHostKeyAlgorithms(entries: readonly KnownHostEntry[], name: string): ServerHostKeyAlgorithm[] | undefined {
  const types = new Set(entries.filter((entry) => !entry.marker && hostFieldMatches(entry.hosts, name)).map((entry) => entry.keyType));
  const algorithms = Object.entries(ALGORITHMS_BY_KEY_TYPE).flatMap(([type, names]) => (types.has(type) ? names : []));
  return algorithms.length > 0 ? algorithms : undefined;
}

/** Why a host's key was refused, for the one-line error (see {@link describeHostKeyRefusal}). */
export interface HostKeyRefusal {
  host: string;
  port: number;
  /** The host's name in known_hosts: `host` or `[host]:port`. */
  name: string;
  offeredType: string;
  offeredFingerprint: string;
  verdict: Exclude<HostKeyVerdict, { status: 'ok' }>;
  files: KnownHostsFile[];
}

/**
 * The host-key check of one ssh:// engine: `verify` is ssh2's `hostVerifier` (it gets the raw key blob during the
 * key exchange, before any login); a refusal is kept in `refusal` for the error ssh2 then raises, which says only
 * "Host denied".
 */
export class HostKeyCheck {
  readonly name: string;
  refusal?: HostKeyRefusal;

  constructor(
    readonly host: string,
    readonly port: number,
    readonly known: KnownHosts,
  ) {
    this.name = knownHostsName(host, port);
  }

  /**
   * What to pass as ssh2's `algorithms.serverHostKey`: its default list with the listed types' algorithms moved to
   * the front (ssh2 applies the operations in this order; `prepend` alone skips what the list has already).
   */
  serverHostKeyAlgorithms(): Record<'remove' | 'prepend' | 'append', ServerHostKeyAlgorithm[]> | undefined {
    const preferred = preferredHostKeyAlgorithms(this.known.entries, this.name);
    return preferred ? { remove: preferred, prepend: preferred, append: [] } : undefined;
  }

  readonly verify = (key: Buffer): boolean => {
    const verdict = checkHostKey(this.known.entries, this.name, key);
    if (verdict.status === 'ok') return true;
    this.refusal = {
      host: this.host.replace(/^\[(.*)\]$/, '$1'),
      port: this.port,
      name: this.name,
      offeredType: keyTypeOf(key) ?? 'unknown-type',
      offeredFingerprint: fingerprintOf(key),
      verdict,
      files: this.known.files,
    };
    return false;
  };
}

/** The host-key check for an ssh:// engine at `host`:`port`, reading OpenSSH's default files now. */
export function hostKeyCheck(host: string, port: number, files: readonly string[] = knownHostsFiles()): HostKeyCheck {
  return new HostKeyCheck(host, port, readKnownHosts(files));
}

/** Quoted for a POSIX shell when it needs to be (`'[10.0.0.5]:2222'`). */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The refusal as the rest of a sentence that starts with the engine's address: what the host offered, what the files
 * say, which files were looked in, and what to do.
 */
export function describeHostKeyRefusal(refusal: HostKeyRefusal): string {
  const { name, verdict } = refusal;
  const offered = `the ${refusal.offeredType} key ${refusal.offeredFingerprint}`;
  const lookedIn = `looked in ${refusal.files
    .filter((file, index) => index === 0 || index === 2 || !file.problem)
    .map((file) => (file.problem ? `${file.path} (${file.problem})` : file.path))
    .join(', ')}`;
  const userFile = refusal.files[0]?.path ?? '~/.ssh/known_hosts';
  const keyscan = `ssh-keyscan${refusal.port === 22 ? '' : ` -p ${refusal.port}`} ${shellWord(refusal.host)} >> ${shellWord(userFile)}`;
  const at = (entry: KnownHostEntry) => `${entry.file}:${entry.line}`;
  if (verdict.status === 'revoked') {
    return `the SSH host ${name} offered ${offered}, which ${at(verdict.entry)} marks @revoked (${lookedIn}): the tasks never connect with a revoked key; ask the host's owner for its new key`;
  }
  if (verdict.status === 'changed') {
    const [first] = verdict.listed;
    const listed =
      verdict.listed.length === 1
        ? `${at(first)} lists another key for it (${first.keyType} ${fingerprintOf(first.key)}; ${lookedIn})`
        : `known_hosts lists ${verdict.listed.length} other keys for it (${verdict.listed.map(at).join(', ')}; ${lookedIn})`;
    return `the SSH host key of ${name} has changed: the host offered ${offered}, but ${listed}: someone may be intercepting the connection, or the host's key was replaced; only once the host's owner confirms the new fingerprint, remove the old entry (ssh-keygen -R ${shellWord(name)} -f ${shellWord(first.file)}) and add the new key (${keyscan}) in an earlier step`;
  }
  const authorities =
    verdict.authorities.length > 0
      ? `; known_hosts names only a certificate authority for it (@cert-authority at ${verdict.authorities.map(at).join(', ')}), and the tasks do not take host certificates`
      : '';
  return `the SSH host ${name} offered ${offered}, and no known_hosts file lists a key for that host (${lookedIn})${authorities}: check that fingerprint with the host's owner, then add the key in an earlier step: ${keyscan}`;
}
