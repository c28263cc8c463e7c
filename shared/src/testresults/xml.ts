// A streaming XML tokenizer for untrusted result files. It works on bytes, keeps at most one piece of markup plus
// the text a reader asked for, and knows no DTD: a DOCTYPE is refused outright, so there is nothing to expand
// (billion laughs) and nothing to fetch (XXE). Only the five predefined entities and character references exist.
// It checks what a reader relies on (names, nesting, quoting, one root, complete file) and skips what it does not
// need without decoding it, which is where its speed comes from.
// Why our own and not a library: `npx tsx bench/results/index.ts` (32 MiB JUnit file, 100,000 cases, best of 5, each
// parser in its own process; Node 20 on a 2-core machine shared with other work, two runs) measured, full TestResult
// objects out: ours 121.9 / 121.4 MB/s, 109-115 MiB peak RSS · fast-xml-parser 47.0 / 38.8 MB/s, 303-368 MiB (2.6× /
// 3.1× slower) · xml2js 10.2 / 6.3 MB/s, ~1.6-1.8 GiB · saxes 174.0 / 161.7 MB/s, 93 MiB, but tokenizing only (no
// TestResult objects built, so not a like-for-like figure; and it lets a DOCTYPE through, which ours refuses).
// saxes is therefore only a devDependency, for the benchmark.

import { isUtf8 } from 'node:buffer';

/** The file is not (complete, acceptable) XML. The message says what and where, never the file's content. */
export class XmlError extends Error {
  override name = 'XmlError';
}

export interface XmlLimits {
  /** Nesting deeper than this is refused; no result format comes near it. */
  maxDepth: number;
  /** One tag, comment-free: a start tag with all its attributes. Bounds what is buffered across chunks. */
  maxMarkupBytes: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxDepth: 256, maxMarkupBytes: 8 * 1024 * 1024 };

export interface XmlOptions {
  /**
   * Refuse a character reference to a character XML does not allow (`&#x1B;`, `&#0;`), as .NET's `XmlReader.Create`
   * does with its default CheckCharacters (the agent's JUnit, NUnit, xUnit and CTest readers). Off: such a reference
   * is read as the character, as .NET's `XmlDocument.LoadXml` does (the agent's TRX reader).
   */
  strictCharacterReferences?: boolean;
}

export type XmlAttributes = Record<string, string>;

/** A text budget that keeps the start and the end of a long text: half the bytes each, the cut said between. */
export interface HeadAndTail {
  headAndTail: number;
}

export interface XmlHandler {
  /**
   * An element starts. `name` is the local name (prefix dropped). Return a byte budget to receive the element's
   * text (its own and its descendants', CDATA included) at its `close`; 0 or nothing to skip it. A number keeps the
   * first bytes; `{ headAndTail }` keeps the first and the last half of that budget (for console output, whose end
   * usually says what went wrong).
   */
  open(name: string, attrs: XmlAttributes, depth: number): number | HeadAndTail | void;
  /** The element ends; `text` is set when `open` asked for it, `truncated` when it was longer than the budget. */
  close(name: string, depth: number, text: string | undefined, truncated: boolean): void;
}

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const BANG = 0x21;
const QUESTION = 0x3f;
const EQ = 0x3d;
const DQUOTE = 0x22;
const SQUOTE = 0x27;
const COLON = 0x3a;

const enum Mode {
  Text,
  Comment,
  CData,
}

// Name bytes: ASCII letters, digits, `_ : . -`, and anything non-ASCII (UTF-8 sequences of non-ASCII names).
const NAME_START = new Uint8Array(256);
const NAME_CHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const letter = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === COLON || c >= 0x80;
  NAME_START[c] = letter ? 1 : 0;
  NAME_CHAR[c] = letter || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d ? 1 : 0;
}
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Bytes XML 1.0 never allows, raw, anywhere in a document: C0 controls other than tab, line feed and return. */
const FORBIDDEN_BYTES = Array.from({ length: 32 }, (_, b) => b).filter((b) => b !== 0x09 && b !== 0x0a && b !== 0x0d);
/** UTF-8 of U+FFFE and U+FFFF start with these two bytes (third byte 0xBE or 0xBF); XML allows neither. */
const EF_BF = Buffer.from([0xef, 0xbf]);

/** The XML 1.0 `Char` production. */
function isXmlChar(code: number): boolean {
  return (
    code === 0x09 ||
    code === 0x0a ||
    code === 0x0d ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff)
  );
}

function hexByte(b: number): string {
  return `0x${b.toString(16).toUpperCase().padStart(2, '0')}`;
}

/** Bytes of an incomplete UTF-8 sequence at the end of `buf` (0 when it ends on a character boundary). */
function incompleteTail(buf: Buffer, from: number): number {
  const end = buf.length;
  for (let back = 1; back <= 3 && end - back >= from; back++) {
    const b = buf[end - back];
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/** Index of the first byte that does not start or continue valid UTF-8, for the error message. */
function firstInvalidUtf8(buf: Buffer, from: number): number {
  let i = from;
  while (i < buf.length) {
    const b = buf[i];
    const need = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (need === 0 || i + need > buf.length || !isUtf8(buf.subarray(i, i + need))) return i;
    i += need;
  }
  return buf.length;
}

// Buffer#toString checks its arguments and looks up the encoding on every call; for the millions of short names
// and values a big file has, that wrapper costs more than the decoding. The slice bindings behind it are used
// directly where Node has them (it always has, but they are undocumented, hence the fallback).
interface SliceBindings {
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}
const fastSlices = typeof (Buffer.prototype as unknown as Partial<SliceBindings>).latin1Slice === 'function';
const latin1 = fastSlices
  ? (buf: Buffer, start: number, end: number) => (buf as unknown as SliceBindings).latin1Slice(start, end)
  : (buf: Buffer, start: number, end: number) => buf.toString('latin1', start, end);
const utf8Text = fastSlices
  ? (buf: Buffer, start: number, end: number) => (buf as unknown as SliceBindings).utf8Slice(start, end)
  : (buf: Buffer, start: number, end: number) => buf.toString('utf8', start, end);

/** The value of a character reference's digits (`#x1B`, `#27`), or NaN. */
function referencedCode(ref: string): number {
  return ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
}

/** Why a reference (what lies between `&` and `;`) is refused, or undefined when it is one we read. */
function badReference(ref: string, strict: boolean): string | undefined {
  if (ref[0] === '#') {
    if (!/^#(?:x[0-9a-fA-F]{1,8}|[0-9]{1,10})$/.test(ref)) return `a malformed character reference '&${ref.slice(0, 12)};'`;
    const code = referencedCode(ref);
    if (strict && !isXmlChar(code)) return `a character reference '&${ref};' to a character XML does not allow`;
    return undefined;
  }
  if (PREDEFINED[ref] === undefined) return `an undefined entity '&${ref.slice(0, 40)};' (no DTD is read)`;
  return undefined;
}

function decodeEntities(text: string, strict: boolean): string {
  // An `&` that starts no reference is not well-formed: every `&` must match here.
  let matched = 0;
  const decoded = text.replace(/&([^&;\s<]{1,40});/g, (_whole, ref: string) => {
    matched++;
    const bad = badReference(ref, strict);
    if (bad) throw new XmlError(`is not well-formed XML: it has ${bad}`);
    if (ref[0] !== '#') return PREDEFINED[ref];
    const code = referencedCode(ref);
    const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
    return valid ? String.fromCodePoint(code) : '\ufffd';
  });
  if (matched !== countAmpersands(text)) throw new XmlError("is not well-formed XML: it has an '&' that starts no reference");
  return decoded;
}

function countAmpersands(text: string): number {
  let n = 0;
  for (let i = text.indexOf('&'); i >= 0; i = text.indexOf('&', i + 1)) n++;
  return n;
}

/** An attribute value that has `&` or literal white space other than spaces (the caller checked the bytes). */
function normaliseAttribute(raw: string, strict: boolean): string {
  // XML attribute-value normalisation: literal white space becomes a space; &#10; stays a line break.
  const value = raw.replace(/\r\n|[\t\n\r]/g, ' ');
  return value.includes('&') ? decodeEntities(value, strict) : value;
}

/** UTF-8 bytes → string, dropping a multi-byte sequence cut at the end (a budget can cut one). */
function utf8(bytes: Buffer, cut: boolean): string {
  let end = bytes.length;
  if (cut) {
    let back = end - 1;
    while (back >= 0 && back > end - 4 && (bytes[back] & 0xc0) === 0x80) back--;
    if (back >= 0 && bytes[back] >= 0xc0) {
      const need = bytes[back] >= 0xf0 ? 4 : bytes[back] >= 0xe0 ? 3 : 2;
      if (end - back < need) end = back;
    }
  }
  return bytes.toString('utf8', 0, end);
}

interface Capture {
  depth: number;
  budget: number;
  used: number;
  truncated: boolean;
  parts: string[];
  /** Raw bytes of the text run in progress (entities are decoded once the run ends). */
  run: Buffer[];
  /** Head-and-tail captures: bytes kept from the end once the head is full, and how many were dropped between. */
  tailBudget: number;
  tail: { bytes: Buffer; cdata: boolean }[];
  tailBytes: number;
  cutBytes: number;
}

/**
 * Push-style tokenizer: `write` byte chunks as they arrive, then `end`. Throws `XmlError` on the first problem.
 */
export class XmlTokenizer {
  private carry: Buffer | undefined;
  /**
   * Chunks that arrived while a start tag was still open, and the quote its scan is inside of (0: none). The tag
   * cannot end before a `>` outside quotes, so only the new bytes are scanned for one and the tag is parsed once:
   * a 10 MB attribute costs one pass, not one per chunk.
   */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingQuote = 0;
  private mode = Mode.Text;
  private readonly stack: string[] = [];
  private capture: Capture | undefined;
  private started = false;
  private rootSeen = false;
  private rootClosed = false;
  private offset = 0;
  /** An incomplete UTF-8 sequence at the end of the last chunk, checked once its next bytes arrive. */
  private utf8Carry: Buffer | undefined;
  /** The start of a reference (`&#x1`) that a chunk boundary cut, completed by the next chunk's text. */
  private refCarry = '';
  /** Where the next `&` of the current buffer is, so that each text region does not rescan the rest of the buffer. */
  private ampBuffer: Buffer | undefined;
  private ampAt = -1;
  /** See XmlOptions; a reader may turn it on once the root element says which format the file is. */
  strictCharacterReferences: boolean;

  constructor(
    private readonly handler: XmlHandler,
    private readonly limits: XmlLimits = DEFAULT_XML_LIMITS,
    options: XmlOptions = {},
  ) {
    this.strictCharacterReferences = options.strictCharacterReferences ?? false;
  }

  /** Bytes consumed so far; error messages use it to say where. */
  get position(): number {
    return this.offset;
  }

  write(chunk: Buffer): void {
    this.ampBuffer = undefined;
    if (this.started) this.checkCharacters(chunk, 0, this.offset + this.pendingBytes + (this.carry?.length ?? 0));
    if (this.carry && this.mode === Mode.Text && !this.tagMayEndIn(chunk)) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.carry.length + this.pendingBytes > this.limits.maxMarkupBytes) {
        throw this.error(`has a tag longer than ${this.limits.maxMarkupBytes} bytes`);
      }
      return;
    }
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, ...this.pending, chunk]);
      this.carry = undefined;
      this.pending = [];
      this.pendingBytes = 0;
      this.pendingQuote = 0;
    }
    let pos = 0;
    const len = buf.length;
    if (!this.started) {
      if (len >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3;
      else if (len < 3 && buf[0] === 0xef) return this.keep(buf, 0);
      while (pos < len && isSpace(buf[pos])) pos++;
      if (pos === len) {
        this.offset += len;
        return;
      }
      if (buf[pos] !== LT) throw new XmlError('is not an XML document (it does not start with markup)');
      this.started = true;
      this.checkCharacters(buf, pos, this.offset);
    }
    while (pos < len) {
      if (this.mode === Mode.Comment) {
        const end = buf.indexOf('-->', pos, 'latin1');
        if (end < 0) return this.keep(buf, Math.max(pos, len - 2));
        pos = end + 3;
        this.mode = Mode.Text;
        continue;
      }
      if (this.mode === Mode.CData) {
        const end = buf.indexOf(']]>', pos, 'latin1');
        const stop = end < 0 ? Math.max(pos, len - 2) : end;
        if (this.capture && stop > pos) this.take(buf, pos, stop, true);
        if (end < 0) return this.keep(buf, stop);
        if (this.capture) this.endRun(true);
        pos = end + 3;
        this.mode = Mode.Text;
        continue;
      }
      const lt = buf.indexOf(LT, pos);
      const textEnd = lt < 0 ? len : lt;
      if (textEnd > pos) this.text(buf, pos, textEnd);
      if (lt < 0) break;
      if (this.refCarry) throw this.error("is not well-formed XML: it has an '&' that starts no reference", lt);
      if (this.capture) this.endRun(false);
      const next = this.markup(buf, lt);
      if (next < 0) return this.keep(buf, lt);
      pos = next;
    }
    this.offset += len;
  }

  end(): void {
    if (this.utf8Carry) throw this.error('is not well-formed XML: it ends inside a UTF-8 character');
    if (this.mode === Mode.Comment) throw this.error('ends inside a comment (the file is truncated)');
    if (this.mode === Mode.CData) throw this.error('ends inside a CDATA section (the file is truncated)');
    if (this.carry && this.carry.length > 0) throw this.error('ends inside a tag (the file is truncated)');
    if (!this.started) throw new XmlError('is empty');
    if (!this.rootSeen) throw new XmlError('has no root element');
    if (this.stack.length > 0) {
      const open = this.stack[this.stack.length - 1];
      throw this.error(`ends before <${open}> is closed (the file is truncated)`);
    }
  }

  /**
   * Refuses what the agent's .NET reader refuses before it parses anything: a raw character XML 1.0 does not allow
   * (a C0 control other than tab, line feed and return, or U+FFFE/U+FFFF) and bytes that are not UTF-8. A NUL ends
   * a sparse or zero-filled file here, at its first chunk. `base` is the stream offset of `buf[0]`.
   */
  private checkCharacters(buf: Buffer, from: number, base: number): void {
    // One native scan per forbidden byte is several times faster than a loop over every byte in JavaScript.
    let first = -1;
    for (const b of FORBIDDEN_BYTES) {
      const at = buf.indexOf(b, from);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    if (first >= 0) {
      const what = buf[first] === 0 ? 'a NUL byte' : `the control character ${hexByte(buf[first])}`;
      throw new XmlError(`is not well-formed XML: it has ${what} at byte ${base + first}`);
    }
    let start = from;
    if (this.utf8Carry) {
      const carried = this.utf8Carry;
      const lead = carried[0];
      const need = (lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2) - carried.length;
      const joined = Buffer.concat([carried, buf.subarray(from, from + need)]);
      this.utf8Carry = undefined;
      if (joined.length < carried.length + need) {
        this.utf8Carry = joined;
        return;
      }
      if (!isUtf8(joined)) throw new XmlError(`is not well-formed XML: it has bytes that are not UTF-8 at byte ${base - carried.length}`);
      if (joined[0] === 0xef && joined[1] === 0xbf && (joined[2] === 0xbe || joined[2] === 0xbf)) {
        throw new XmlError(
          `is not well-formed XML: it has the non-character U+FFF${joined[2] === 0xbe ? 'E' : 'F'} at byte ${base - carried.length}`,
        );
      }
      start = from + need;
    }
    const cut = incompleteTail(buf, start);
    const end = buf.length - cut;
    if (start < end && !isUtf8(buf.subarray(start, end))) {
      throw new XmlError(
        `is not well-formed XML: it has bytes that are not UTF-8 at byte ${base + firstInvalidUtf8(buf.subarray(0, end), start)}`,
      );
    }
    for (let at = buf.indexOf(EF_BF, start); at >= 0 && at + 2 < end; at = buf.indexOf(EF_BF, at + 1)) {
      if (buf[at + 2] === 0xbe || buf[at + 2] === 0xbf) {
        throw new XmlError(
          `is not well-formed XML: it has the non-character U+FFF${buf[at + 2] === 0xbe ? 'E' : 'F'} at byte ${base + at}`,
        );
      }
    }
    if (cut > 0) this.utf8Carry = Buffer.from(buf.subarray(end));
  }

  private error(problem: string, at?: number): XmlError {
    return new XmlError(at === undefined ? problem : `${problem} at byte ${this.offset + at}`);
  }

  /** Keeps `buf[from..]` for the next chunk; bounded so a tag that never ends cannot fill memory. */
  private keep(buf: Buffer, from: number): void {
    const rest = buf.length - from;
    if (this.mode === Mode.Text && rest > this.limits.maxMarkupBytes) {
      throw this.error(`has a tag longer than ${this.limits.maxMarkupBytes} bytes`, from);
    }
    this.carry = rest > 0 ? Buffer.from(buf.subarray(from)) : undefined;
    this.offset += from;
    // Where the kept markup's scan stands: inside a quoted value or not (one pass over what is kept).
    this.pendingQuote = 0;
    if (this.carry && this.mode === Mode.Text) this.tagMayEndIn(this.carry);
  }

  /**
   * Scans `bytes`, continuing the quote state of the open markup, for a `>` that could end it. Start tags honour
   * quotes (a value may hold `>`); other markup (`<?…?>`, `</…>`, `<!…`) ends at any `>`.
   */
  private tagMayEndIn(bytes: Buffer): boolean {
    const startTag = this.carry !== undefined && this.carry.length > 1 && NAME_START[this.carry[1]] === 1;
    if (!startTag) return bytes.includes(GT) || (this.carry?.length ?? 0) < 9;
    let quote = this.pendingQuote;
    for (let i = bytes === this.carry ? 1 : 0; i < bytes.length; i++) {
      const b = bytes[i];
      if (quote) {
        if (b === quote) quote = 0;
      } else if (b === DQUOTE || b === SQUOTE) {
        quote = b;
      } else if (b === GT) {
        this.pendingQuote = quote;
        return true;
      }
    }
    this.pendingQuote = quote;
    return false;
  }

  private text(buf: Buffer, start: number, end: number): void {
    if (this.stack.length === 0) {
      for (let i = start; i < end; i++) {
        if (!isSpace(buf[i])) {
          throw this.error(this.rootClosed ? 'has text after the root element' : 'has text before the root element', i);
        }
      }
      return;
    }
    this.checkReferences(buf, start, end);
    if (this.capture) this.take(buf, start, end, false);
  }

  /**
   * Every `&` in text must start a reference this reader knows (the five predefined entities or a character
   * reference), whether or not the text is read: a file with a bare `&` or `&nbsp;` is not well-formed, and the
   * agent refuses it. A reference cut by the end of the chunk is finished with the next one.
   */
  private checkReferences(buf: Buffer, start: number, end: number): void {
    let from = start;
    if (this.refCarry) {
      const semi = buf.indexOf(0x3b, start);
      const stop = semi >= 0 && semi < end ? semi : end;
      const ref = this.refCarry + buf.toString('latin1', start, stop);
      if (stop === end) {
        if (ref.length > 42) throw this.error("is not well-formed XML: it has an '&' that starts no reference", start);
        this.refCarry = ref;
        return;
      }
      this.refCarry = '';
      this.checkReference(ref.slice(1), start);
      from = stop + 1;
    }
    for (let amp = this.nextAmpersand(buf, from); amp >= 0 && amp < end; amp = this.nextAmpersand(buf, from)) {
      const limit = Math.min(end, amp + 42);
      let semi = amp + 1;
      while (semi < limit && buf[semi] !== 0x3b) semi++;
      if (semi >= limit) {
        if (limit === end && end === buf.length) {
          this.refCarry = buf.toString('latin1', amp, end);
          return;
        }
        throw this.error("is not well-formed XML: it has an '&' that starts no reference", amp);
      }
      this.checkReference(buf.toString('latin1', amp + 1, semi), amp);
      from = semi + 1;
    }
  }

  private checkReference(ref: string, at: number): void {
    const bad =
      ref.length === 0 || /[\s<&]/.test(ref) ? "an '&' that starts no reference" : badReference(ref, this.strictCharacterReferences);
    if (bad) throw this.error(`is not well-formed XML: it has ${bad}`, at);
  }

  /** The first `&` at or after `from` in `buf`, scanning each buffer once however many text regions it has. */
  private nextAmpersand(buf: Buffer, from: number): number {
    if (this.ampBuffer !== buf || (this.ampAt >= 0 && this.ampAt < from)) {
      this.ampBuffer = buf;
      this.ampAt = buf.indexOf(0x26, from);
    } else if (this.ampAt < 0) {
      return -1;
    }
    return this.ampAt;
  }

  /** Adds bytes to the run being captured, within the budget; past it, to the tail when one is kept. */
  private take(buf: Buffer, start: number, end: number, cdata: boolean): void {
    const capture = this.capture!;
    const room = capture.budget - capture.used;
    const take = Math.max(0, Math.min(room, end - start));
    if (take > 0) {
      capture.run.push(Buffer.from(buf.subarray(start, start + take)));
      capture.used += take;
    }
    if (take === end - start) return;
    capture.truncated = true;
    if (capture.tailBudget === 0) return;
    capture.tail.push({ bytes: Buffer.from(buf.subarray(start + take, end)), cdata });
    capture.tailBytes += end - start - take;
    // Drop from the front what the tail no longer needs, keeping at most twice its budget in hand.
    while (capture.tailBytes - capture.tail[0].bytes.length >= capture.tailBudget) {
      const dropped = capture.tail.shift()!;
      capture.tailBytes -= dropped.bytes.length;
      capture.cutBytes += dropped.bytes.length;
    }
    if (capture.tailBytes > 2 * capture.tailBudget) {
      const first = capture.tail[0];
      const excess = capture.tailBytes - capture.tailBudget;
      first.bytes = Buffer.from(first.bytes.subarray(excess));
      capture.tailBytes -= excess;
      capture.cutBytes += excess;
    }
  }

  /** The kept end of a head-and-tail capture as text: cut at the front to whole characters and references. */
  private tailText(capture: Capture): string {
    let excess = capture.tailBytes - capture.tailBudget;
    const out: string[] = [];
    let first = true;
    for (let i = 0; i < capture.tail.length;) {
      const cdata = capture.tail[i].cdata;
      const group: Buffer[] = [];
      for (; i < capture.tail.length && capture.tail[i].cdata === cdata; i++) group.push(capture.tail[i].bytes);
      let bytes = group.length === 1 ? group[0] : Buffer.concat(group);
      if (first && excess > 0) {
        bytes = bytes.subarray(Math.min(excess, bytes.length));
        excess = 0;
      }
      let lead = 0;
      if (first) while (lead < bytes.length && (bytes[lead] & 0xc0) === 0x80) lead++;
      let text = bytes.toString('utf8', lead);
      if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
      if (!cdata && text.includes('&')) {
        // The cut may have left the end of a reference at the front.
        if (first) text = text.replace(/^[^&<\s]{0,41};/, '');
        text = decodeEntities(text, this.strictCharacterReferences);
      }
      out.push(text);
      first = false;
    }
    capture.cutBytes += Math.max(0, capture.tailBytes - capture.tailBudget);
    return out.join('');
  }

  /** A text run or CDATA section ended: decode it whole (a chunk may have split a character or an entity). */
  private endRun(cdata: boolean): void {
    const capture = this.capture!;
    if (capture.run.length === 0) return;
    const bytes = capture.run.length === 1 ? capture.run[0] : Buffer.concat(capture.run);
    capture.run = [];
    let text = utf8(bytes, capture.truncated);
    if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
    if (!cdata && text.includes('&')) {
      // A cut run may end in half an entity; leave that part out rather than misread it.
      if (capture.truncated) text = text.replace(/&[^;\s]*$/, '');
      text = decodeEntities(text, this.strictCharacterReferences);
    }
    capture.parts.push(text);
  }

  /** Handles the markup at `buf[at] === '<'`; returns where text resumes, or -1 when the chunk ends first. */
  private markup(buf: Buffer, at: number): number {
    const len = buf.length;
    if (at + 1 >= len) return -1;
    const c = buf[at + 1];
    if (c === SLASH) return this.closeTag(buf, at);
    if (c === QUESTION) {
      const end = buf.indexOf('?>', at + 2, 'latin1');
      return end < 0 ? -1 : end + 2;
    }
    if (c === BANG) {
      if (len - at < 4) return -1;
      if (buf[at + 2] === 0x2d && buf[at + 3] === 0x2d) {
        this.mode = Mode.Comment;
        return at + 4;
      }
      if (len - at < 9) return -1;
      const word = buf.toString('latin1', at + 2, at + 9);
      if (word === '[CDATA[') {
        if (this.stack.length === 0) throw this.error('has CDATA outside the root element', at);
        this.mode = Mode.CData;
        return at + 9;
      }
      if (word.toUpperCase() === 'DOCTYPE') {
        throw this.error('has a DOCTYPE: DTDs and entity declarations are not accepted in result files', at);
      }
      throw this.error('has markup that is not XML (<!)', at);
    }
    return this.startTag(buf, at);
  }

  private readName(buf: Buffer, start: number): { end: number; name: string; local: string } | undefined {
    const len = buf.length;
    if (start >= len) return undefined;
    if (!NAME_START[buf[start]]) throw this.error('has an element with an invalid name', start);
    let i = start + 1;
    let colon = -1;
    let ascii = buf[start] < 0x80;
    while (i < len && NAME_CHAR[buf[i]]) {
      const b = buf[i];
      if (b === COLON) colon = i;
      else if (b >= 0x80) ascii = false;
      i++;
    }
    if (i >= len) return undefined;
    if (i - start > 1024) throw this.error('has a name longer than 1024 bytes', start);
    const name = ascii ? latin1(buf, start, i) : utf8Text(buf, start, i);
    const local = colon < 0 ? name : name.slice(name.indexOf(':') + 1);
    return { end: i, name, local };
  }

  private startTag(buf: Buffer, at: number): number {
    if (this.rootClosed) throw this.error('has more than one root element', at);
    const len = buf.length;
    const head = this.readName(buf, at + 1);
    if (!head) return -1;
    const attrs: XmlAttributes = {};
    let i = head.end;
    let selfClosing = false;
    for (;;) {
      const before = i;
      while (i < len && isSpace(buf[i])) i++;
      if (i >= len) return -1;
      const c = buf[i];
      if (c === GT) {
        i++;
        break;
      }
      if (c === SLASH) {
        if (i + 1 >= len) return -1;
        if (buf[i + 1] !== GT) throw this.error(`has a malformed tag <${head.name}>`, i);
        selfClosing = true;
        i += 2;
        break;
      }
      if (i === before) throw this.error(`has a malformed tag <${head.name}>`, i);
      const attr = this.readName(buf, i);
      if (!attr) return -1;
      i = attr.end;
      while (i < len && isSpace(buf[i])) i++;
      if (i >= len) return -1;
      if (buf[i] !== EQ) throw this.error(`has an attribute without a value in <${head.name}>`, i);
      i++;
      while (i < len && isSpace(buf[i])) i++;
      if (i >= len) return -1;
      const quote = buf[i];
      if (quote !== DQUOTE && quote !== SQUOTE) throw this.error(`has an unquoted attribute in <${head.name}>`, i);
      // One pass over the value: where it ends, and whether it needs more than a one-byte decode.
      let close = i + 1;
      let special = false;
      let ascii = true;
      for (; close < len; close++) {
        const b = buf[close];
        if (b === quote) break;
        if (b === 0x26 || b === 0x09 || b === 0x0a || b === 0x0d) special = true;
        else if (b >= 0x80) ascii = false;
        else if (b === LT) throw this.error(`is not well-formed XML: it has '<' in an attribute value of <${head.name}>`, close);
      }
      if (close >= len) return -1;
      if (Object.prototype.hasOwnProperty.call(attrs, attr.local)) {
        // Duplicates are not well-formed; keeping the first is enough for our readers, refusing is safer.
        throw this.error(`has a repeated attribute '${attr.name}' in <${head.name}>`, i);
      }
      const raw = ascii ? latin1(buf, i + 1, close) : utf8Text(buf, i + 1, close);
      attrs[attr.local] = special ? normaliseAttribute(raw, this.strictCharacterReferences) : raw;
      i = close + 1;
    }
    if (this.stack.length >= this.limits.maxDepth) {
      throw this.error(`nests elements deeper than ${this.limits.maxDepth} levels`, at);
    }
    this.rootSeen = true;
    this.stack.push(head.name);
    const depth = this.stack.length;
    const asked = this.handler.open(head.local, attrs, depth);
    if (asked && !this.capture) {
      const headAndTail = typeof asked === 'object';
      const bytes = headAndTail ? asked.headAndTail : asked;
      if (bytes > 0) {
        const tailBudget = headAndTail ? Math.floor(bytes / 2) : 0;
        this.capture = {
          depth,
          budget: bytes - tailBudget,
          used: 0,
          truncated: false,
          parts: [],
          run: [],
          tailBudget,
          tail: [],
          tailBytes: 0,
          cutBytes: 0,
        };
      }
    }
    if (selfClosing) this.finishElement(head.local, depth);
    return i;
  }

  private closeTag(buf: Buffer, at: number): number {
    const head = this.readName(buf, at + 2);
    if (!head) return -1;
    let i = head.end;
    const len = buf.length;
    while (i < len && isSpace(buf[i])) i++;
    if (i >= len) return -1;
    if (buf[i] !== GT) throw this.error(`has a malformed end tag </${head.name}>`, i);
    const open = this.stack[this.stack.length - 1];
    if (open !== head.name) {
      throw this.error(open ? `closes <${open}> with </${head.name}>` : `has an unmatched </${head.name}>`, at);
    }
    this.finishElement(head.local, this.stack.length);
    return i + 1;
  }

  private finishElement(local: string, depth: number): void {
    const capture = this.capture;
    let text: string | undefined;
    let truncated = false;
    if (capture && capture.depth === depth) {
      this.endRun(false);
      text = capture.parts.length === 1 ? capture.parts[0] : capture.parts.join('');
      if (capture.tail.length > 0) {
        const tail = this.tailText(capture);
        text = `${text}\n[… ${capture.cutBytes} bytes cut …]\n${tail}`;
      }
      truncated = capture.truncated;
      this.capture = undefined;
    }
    this.stack.pop();
    if (this.stack.length === 0) this.rootClosed = true;
    this.handler.close(local, depth, text, truncated);
  }
}
