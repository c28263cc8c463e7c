// A streaming XML tokenizer for untrusted result files. It works on bytes, keeps at most one piece of markup plus
// the text a reader asked for, and knows no DTD: a DOCTYPE is refused outright, so there is nothing to expand
// (billion laughs) and nothing to fetch (XXE). Only the five predefined entities and character references exist.
// It checks what a reader relies on (names, nesting, quoting, one root, complete file) and skips what it does not
// need without decoding it, which is where its speed comes from.
// Why our own and not a library: `npx tsx bench/results/index.ts` (32 MiB JUnit file, 100,000 cases, best of 5, each
// parser in its own process; 2-core machine shared with other work, Node 20) measured, full TestResult objects out:
//   ours 121.9 MB/s, 109 MiB peak RSS · fast-xml-parser 47.0 MB/s, 303 MiB (2.60× slower) · xml2js 10.2 MB/s,
//   1776 MiB (11.9× slower) · saxes 174.0 MB/s, 94 MiB, tokenizing only (no TestResult objects built, so not a like
//   for like figure; and it lets a DOCTYPE through, which ours refuses).
// saxes is therefore only a devDependency, for the benchmark.

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

export type XmlAttributes = Record<string, string>;

export interface XmlHandler {
  /**
   * An element starts. `name` is the local name (prefix dropped). Return a byte budget to receive the element's
   * text (its own and its descendants', CDATA included) at its `close`; 0 or nothing to skip it.
   */
  open(name: string, attrs: XmlAttributes, depth: number): number | void;
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

function decodeEntities(text: string): string {
  return text.replace(/&(#[xX][0-9a-fA-F]{1,8}|#[0-9]{1,10}|[A-Za-z_][\w.-]*);/g, (_whole, ref: string) => {
    if (ref[0] !== '#') {
      const value = PREDEFINED[ref];
      if (value === undefined) throw new XmlError(`undefined entity '&${ref.slice(0, 40)};' (no DTD is read)`);
      return value;
    }
    const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    const valid = code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff);
    return valid ? String.fromCodePoint(code) : '\ufffd';
  });
}

/** An attribute value that has `&` or literal white space other than spaces (the caller checked the bytes). */
function normaliseAttribute(raw: string): string {
  // XML attribute-value normalisation: literal white space becomes a space; &#10; stays a line break.
  const value = raw.replace(/\r\n|[\t\n\r]/g, ' ');
  return value.includes('&') ? decodeEntities(value) : value;
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

  constructor(
    private readonly handler: XmlHandler,
    private readonly limits: XmlLimits = DEFAULT_XML_LIMITS,
  ) {}

  /** Bytes consumed so far; error messages use it to say where. */
  get position(): number {
    return this.offset;
  }

  write(chunk: Buffer): void {
    // XML forbids NUL anywhere; a file holding one (a sparse or zero-filled file included) ends here, at once.
    const nul = this.started ? chunk.indexOf(0) : -1;
    if (nul >= 0) throw new XmlError(`is not well-formed XML: it has a NUL byte at byte ${this.offset + this.pendingBytes + (this.carry?.length ?? 0) + nul}`);
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
      const nul = buf.indexOf(0, pos);
      if (nul >= 0) throw new XmlError(`is not well-formed XML: it has a NUL byte at byte ${this.offset + nul}`);
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
        if (this.capture && stop > pos) this.take(buf, pos, stop);
        if (end < 0) return this.keep(buf, stop);
        if (this.capture) this.endRun(true);
        pos = end + 3;
        this.mode = Mode.Text;
        continue;
      }
      const lt = buf.indexOf(LT, pos);
      const textEnd = lt < 0 ? len : lt;
      if (textEnd > pos) this.text(buf, pos, textEnd);
      if (lt < 0) {
        pos = len;
        break;
      }
      if (this.capture) this.endRun(false);
      const next = this.markup(buf, lt);
      if (next < 0) return this.keep(buf, lt);
      pos = next;
    }
    this.offset += len;
  }

  end(): void {
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
    if (this.capture) this.take(buf, start, end);
  }

  /** Adds bytes to the run being captured, within the budget. */
  private take(buf: Buffer, start: number, end: number): void {
    const capture = this.capture!;
    const room = capture.budget - capture.used;
    if (room <= 0) {
      capture.truncated = true;
      return;
    }
    const take = Math.min(room, end - start);
    if (take < end - start) capture.truncated = true;
    capture.run.push(Buffer.from(buf.subarray(start, start + take)));
    capture.used += take;
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
      text = decodeEntities(text);
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
      }
      if (close >= len) return -1;
      if (Object.prototype.hasOwnProperty.call(attrs, attr.local)) {
        // Duplicates are not well-formed; keeping the first is enough for our readers, refusing is safer.
        throw this.error(`has a repeated attribute '${attr.name}' in <${head.name}>`, i);
      }
      const raw = ascii ? latin1(buf, i + 1, close) : utf8Text(buf, i + 1, close);
      attrs[attr.local] = special ? normaliseAttribute(raw) : raw;
      i = close + 1;
    }
    if (this.stack.length >= this.limits.maxDepth) {
      throw this.error(`nests elements deeper than ${this.limits.maxDepth} levels`, at);
    }
    this.rootSeen = true;
    this.stack.push(head.name);
    const depth = this.stack.length;
    const budget = this.handler.open(head.local, attrs, depth);
    if (budget && budget > 0 && !this.capture) {
      this.capture = { depth, budget, used: 0, truncated: false, parts: [], run: [] };
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
      truncated = capture.truncated;
      this.capture = undefined;
    }
    this.stack.pop();
    if (this.stack.length === 0) this.rootClosed = true;
    this.handler.close(local, depth, text, truncated);
  }
}
