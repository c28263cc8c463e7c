// What the registry benches share: a run timed through the counting proxy, skopeo as the cold anchor, medians and
// markdown tables. Nothing here asserts a time.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { FaultProxy, ProxyCounts, ProxyEntry } from '../test/support/fault-proxy';

// Async on purpose: the counting proxy runs in the bench's process, so a synchronous child would block it.
const execFileAsync = promisify(execFile);

export interface Measure {
  name: string;
  seconds: number;
  requests: number;
  /** Blob bodies that crossed the proxy: blob GET responses plus blob upload bodies. */
  blobBytes: number;
  counts: ProxyCounts;
  /** Every exchange the proxy saw during the run. */
  log: ProxyEntry[];
}

/** Times `action` and reads what crossed `proxy` meanwhile (the proxy's counters are cleared first). */
export async function measure(name: string, proxy: FaultProxy, action: () => Promise<void> | void): Promise<Measure> {
  proxy.reset();
  const start = process.hrtime.bigint();
  await action();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const counts = proxy.counts();
  return { name, seconds, requests: counts.requests, blobBytes: counts.blobBytesDown + counts.blobBytesUp, counts, log: [...proxy.log] };
}

/** What an API path is for: `mount`, `upload`, `blob`, `manifest`, `tags`, `referrers`, `ping` (`/v2/`) or `other`. */
function requestKind(method: string, pathAndQuery: string): string {
  const [pathname, query = ''] = pathAndQuery.split('?', 2);
  if (pathname === '/v2/' || pathname === '/v2') return 'ping';
  if (/\/blobs\/uploads\//.test(pathname)) return method === 'POST' && new URLSearchParams(query).has('mount') ? 'mount' : 'upload';
  const match = /^\/v2\/.+\/(blobs|manifests|tags|referrers)\//.exec(pathname);
  return match ? { blobs: 'blob', manifests: 'manifest', tags: 'tags', referrers: 'referrers' }[match[1]]! : 'other';
}

/** `245 POST mount 201, 84 PUT manifest 201, …`: the exchanges of a run by method, kind and status, most first. */
export function requestBreakdown(log: readonly ProxyEntry[]): string {
  const counts = new Map<string, number>();
  for (const entry of log) {
    const key = `${entry.method} ${requestKind(entry.method, entry.path)} ${entry.status ?? 'dropped'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([key, count]) => `${count} ${key}`)
    .join(', ');
}

/** Removes skopeo's blob-info cache, so its next copy starts as on a fresh agent (no known blob locations to mount from). */
export function removeSkopeoCache(): void {
  for (const dir of ['/var/lib/containers/cache', path.join(os.homedir(), '.local/share/containers/cache')]) {
    if (!fs.existsSync(dir)) continue;
    for (const file of fs.readdirSync(dir)) if (file.startsWith('blob-info-cache')) fs.rmSync(path.join(dir, file), { force: true });
  }
}

export interface SkopeoCopyOptions {
  /** `--all`: every manifest of an index, not only the current platform's. */
  all?: boolean;
  /** Basic credentials for both sides (`user:password`); none for an anonymous registry. */
  credentials?: { username: string; password: string };
}

/** `skopeo copy` between two plain-HTTP registries (`host/path:tag` references, no `docker://`). */
export async function skopeoCopy(source: string, target: string, options: SkopeoCopyOptions = {}): Promise<void> {
  const creds = options.credentials ? `${options.credentials.username}:${options.credentials.password}` : undefined;
  await execFileAsync('skopeo', [
    'copy',
    '--quiet',
    ...(options.all ? ['--all'] : []),
    '--src-tls-verify=false',
    '--dest-tls-verify=false',
    ...(creds ? ['--src-creds', creds, '--dest-creds', creds] : []),
    `docker://${source}`,
    `docker://${target}`,
  ]);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A markdown table; `numeric[i]` right-aligns column i. */
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  numeric: readonly boolean[] = [],
): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (numeric[i] ? '---:' : '---'))), ...rows.map(line)].join('\n');
}
