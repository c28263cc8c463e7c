import { gunzipSync } from 'node:zlib';
import { ChartError } from './errors';

/** One regular file of a chart archive: a `/`-separated path and its bytes. */
export interface ArchiveFile {
  name: string;
  data: Uint8Array;
}

const BLOCK = 512;
/** Helm writes every file with mode 0644, owner 0:0 and no user or group names (`chartutil.writeToTar`). */
const FILE_MODE = 0o644;

/**
 * A tar stream laid out as helm's Go `archive/tar` writes a chart: USTAR headers for regular files only (no
 * directory entries), mode 0644, uid/gid 0, empty uname/gname, the given mtime, two zero blocks at the end and no
 * padding to a 10 KiB record. A path longer than USTAR's name/prefix split allows gets a PAX `path` record.
 */
export function writeTar(files: readonly ArchiveFile[], mtimeSeconds: number): Buffer {
  const parts: Buffer[] = [];
  for (const file of files) {
    const nameBytes = Buffer.from(file.name, 'utf8');
    const split = splitUstarPath(nameBytes);
    if (!split) {
      const record = paxRecord('path', file.name);
      parts.push(header({ name: paxHeaderName(file.name), size: record.length, mtime: mtimeSeconds, type: 'x' }));
      parts.push(padded(record));
      parts.push(header({ name: Buffer.from(truncateUtf8(file.name, 100)), size: file.data.length, mtime: mtimeSeconds, type: '0' }));
    } else {
      parts.push(header({ name: split.name, prefix: split.prefix, size: file.data.length, mtime: mtimeSeconds, type: '0' }));
    }
    parts.push(padded(Buffer.from(file.data.buffer, file.data.byteOffset, file.data.length)));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

interface HeaderFields {
  name: Buffer;
  prefix?: Buffer;
  size: number;
  mtime: number;
  type: '0' | 'x';
}

function header(h: HeaderFields): Buffer {
  const b = Buffer.alloc(BLOCK);
  h.name.copy(b, 0, 0, Math.min(100, h.name.length));
  b.write(octal(FILE_MODE, 8), 100, 'ascii');
  b.write(octal(0, 8), 108, 'ascii');
  b.write(octal(0, 8), 116, 'ascii');
  b.write(octal(h.size, 12), 124, 'ascii');
  b.write(octal(h.mtime, 12), 136, 'ascii');
  b.fill(0x20, 148, 156);
  b.write(h.type, 156, 'ascii');
  b.write('ustar\u000000', 257, 'ascii');
  b.write(octal(0, 8), 329, 'ascii');
  b.write(octal(0, 8), 337, 'ascii');
  if (h.prefix) h.prefix.copy(b, 345, 0, Math.min(155, h.prefix.length));
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'ascii');
  return b;
}

/** Zero-padded octal with a trailing NUL, as Go's USTAR writer formats numeric fields. */
function octal(value: number, width: number): string {
  const digits = value.toString(8);
  if (digits.length > width - 1) throw new ChartError(`a chart file is too large for a tar header (${value} bytes)`);
  return `${digits.padStart(width - 1, '0')}\u0000`;
}

function padded(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

/** USTAR keeps up to 100 bytes of name and 155 of prefix, split at a `/` (Go's `splitUSTARPath`). */
function splitUstarPath(name: Buffer): { name: Buffer; prefix?: Buffer } | undefined {
  if (name.length <= 100) return { name };
  let length = name.length;
  if (length > 156) length = 156;
  else if (name[length - 1] === 0x2f) length--;
  const i = name.subarray(0, length).lastIndexOf(0x2f);
  const suffixLength = name.length - i - 1;
  if (i <= 0 || suffixLength > 100 || suffixLength === 0 || i > 155) return undefined;
  return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length = String(length).length + Buffer.byteLength(body);
  return Buffer.from(`${length}${body}`, 'utf8');
}

function paxHeaderName(name: string): Buffer {
  const base = name.slice(name.lastIndexOf('/') + 1);
  return Buffer.from(truncateUtf8(`PaxHeaders.0/${base}`, 100), 'utf8');
}

function truncateUtf8(text: string, maxBytes: number): string {
  let out = '';
  for (const ch of text) {
    if (Buffer.byteLength(out + ch) > maxBytes) break;
    out += ch;
  }
  return out;
}

/**
 * Helm's gzip header (`chartutil.Save`): FEXTRA with helm's fixed extra bytes, FCOMMENT "Helm", mtime 0, OS 255.
 * Kept so our archive is laid out like helm's to the byte wherever the content allows.
 */
const HELM_GZIP_EXTRA = Buffer.from('+aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo=', 'ascii');

/**
 * The deflate settings. fflate is pure JavaScript and pinned (package.json), so its output is a function of these
 * bytes and settings alone — unlike node:zlib, whose output may change with the zlib Node bundles.
 */
const DEFLATE_LEVEL = 9;
const DEFLATE_MEM = 8;

/** Gzips `data` with helm's header and a deterministic, Node-independent deflate stream. */
export function gzipChart(data: Uint8Array): Buffer {
  const head = Buffer.alloc(10);
  head[0] = 0x1f;
  head[1] = 0x8b;
  head[2] = 8;
  head[3] = 0x04 | 0x10;
  head[9] = 0xff;
  const xlen = Buffer.alloc(2);
  xlen.writeUInt16LE(HELM_GZIP_EXTRA.length);
  const comment = Buffer.from('Helm\u0000', 'latin1');
  // Loaded here, not as the task starts: fflate loads worker_threads as it loads.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above
  const { deflateSync } = require('fflate') as typeof import('fflate');
  const body = deflateSync(data, { level: DEFLATE_LEVEL, mem: DEFLATE_MEM });
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data), 0);
  trailer.writeUInt32LE(data.length >>> 0, 4);
  return Buffer.concat([head, xlen, HELM_GZIP_EXTRA, comment, Buffer.from(body.buffer, body.byteOffset, body.length), trailer]);
}

let crcTable: Uint32Array | undefined;

function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** An entry of a tar archive being read. */
export interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';
  data: Buffer;
}

/** Helm refuses archives that expand to more than this (`loader.MaxDecompressedChartSize`). */
export const MAX_DECOMPRESSED_CHART_SIZE = 100 * 1024 * 1024;

/** Reads a gzipped tar (a packaged chart): regular files, directories and links, with PAX and GNU long names. */
export function readTarGz(bytes: Uint8Array, what: string): TarEntry[] {
  let tar: Buffer;
  try {
    tar = gunzipSync(bytes, { maxOutputLength: MAX_DECOMPRESSED_CHART_SIZE });
  } catch (err) {
    throw new ChartError(`${what} is not a gzipped chart archive (${(err as Error).message})`);
  }
  const entries: TarEntry[] = [];
  let offset = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  while (offset + BLOCK <= tar.length) {
    const h = tar.subarray(offset, offset + BLOCK);
    if (h.every((b) => b === 0)) break;
    const size = parseNumeric(h.subarray(124, 136));
    const type = String.fromCharCode(h[156] || 0x30);
    const dataStart = offset + BLOCK;
    const data = tar.subarray(dataStart, dataStart + size);
    if (data.length !== size) throw new ChartError(`${what} is truncated`);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') {
      longName = data.toString('utf8').replace(/\0+$/, '');
      continue;
    }
    if (type === 'x') {
      paxPath = parsePax(data).path ?? paxPath;
      continue;
    }
    if (type === 'g') continue;
    const prefix = cString(h.subarray(345, 500));
    const name = paxPath ?? longName ?? (prefix ? `${prefix}/${cString(h.subarray(0, 100))}` : cString(h.subarray(0, 100)));
    paxPath = undefined;
    longName = undefined;
    const kind: TarEntry['type'] =
      type === '0' || type === '7' ? 'file' : type === '5' ? 'dir' : type === '2' ? 'symlink' : type === '1' ? 'hardlink' : 'other';
    entries.push({ name, type: kind === 'file' && name.endsWith('/') ? 'dir' : kind, data: Buffer.from(data) });
  }
  return entries;
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString('utf8');
}

function parseNumeric(field: Buffer): number {
  if (field[0] & 0x80) {
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i];
    return value;
  }
  const text = cString(field).trim();
  return text ? parseInt(text, 8) : 0;
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const length = parseInt(data.subarray(pos, space).toString('ascii'), 10);
    if (!Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, pos + length - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += length;
  }
  return out;
}
