import { strict as assert } from 'node:assert';
import { XmlError, XmlTokenizer, type XmlAttributes, type XmlLimits } from '../../shared/src/testresults/xml';

interface Event {
  kind: 'open' | 'close';
  name: string;
  depth: number;
  attrs?: XmlAttributes;
  text?: string;
  truncated?: boolean;
}

/** Tokenizes `xml` cut into `chunk`-byte pieces; elements named in `capture` get their text (with `budget`). */
function tokenize(
  xml: string | Buffer,
  options: { chunk?: number; capture?: string[]; budget?: number; limits?: XmlLimits } = {},
): Event[] {
  const events: Event[] = [];
  const tokenizer = new XmlTokenizer(
    {
      open(name, attrs, depth) {
        events.push({ kind: 'open', name, depth, attrs });
        return options.capture?.includes(name) ? (options.budget ?? 1 << 20) : 0;
      },
      close(name, depth, text, truncated) {
        events.push({ kind: 'close', name, depth, ...(text !== undefined ? { text, truncated } : {}) });
      },
    },
    options.limits,
  );
  const bytes = Buffer.isBuffer(xml) ? xml : Buffer.from(xml, 'utf8');
  const size = options.chunk ?? bytes.length;
  for (let at = 0; at < bytes.length; at += size) tokenizer.write(bytes.subarray(at, at + size));
  tokenizer.end();
  return events;
}

function fails(xml: string | Buffer, pattern: RegExp, options: Parameters<typeof tokenize>[1] = {}): void {
  assert.throws(
    () => tokenize(xml, options),
    (error: unknown) => {
      assert.ok(error instanceof XmlError, `expected XmlError, got ${String(error)}`);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

const texts = (events: Event[]) => events.filter((e) => e.text !== undefined).map((e) => e.text);

describe('testresults: XML tokenizer', () => {
  it('reports elements, depths and attributes with entities and white space normalised', () => {
    const events = tokenize('<?xml version="1.0"?>\n<a x="1 &amp; 2" y=\'&lt;&#65;&#x42;&gt;\' z="l1\nl2&#10;l3"><b/></a>');
    assert.deepEqual(
      events.map((e) => `${e.kind} ${e.name} ${e.depth}`),
      ['open a 1', 'open b 2', 'close b 2', 'close a 1'],
    );
    assert.deepEqual(events[0].attrs, { x: '1 & 2', y: '<AB>', z: 'l1 l2\nl3' });
  });

  it('drops namespace prefixes from names and attributes it reports', () => {
    const events = tokenize('<x:root xmlns:x="urn:x" x:id="7"><x:child/></x:root>');
    assert.deepEqual(
      events.map((e) => e.name),
      ['root', 'child', 'child', 'root'],
    );
    assert.equal(events[0].attrs!.id, '7');
  });

  it('gives captured text with CDATA, entities and CRLF handled, across any chunking', () => {
    const xml = '<r><m>a &amp; b<![CDATA[ <raw> &amp; ]]>\r\nc<!-- skipped --><i>inner</i>é€😀</m></r>';
    const expected = ['a & b <raw> &amp; \ncinneré€😀'];
    for (const chunk of [1, 2, 3, 5, 64]) {
      assert.deepEqual(texts(tokenize(xml, { chunk, capture: ['m'] })), expected, `chunk ${chunk}`);
    }
  });

  it('cuts captured text at the budget without splitting a character, and says so', () => {
    const events = tokenize(`<r><m>${'é'.repeat(10)}</m></r>`, { capture: ['m'], budget: 7, chunk: 3 });
    const close = events.find((e) => e.text !== undefined)!;
    assert.equal(close.text, 'ééé');
    assert.equal(close.truncated, true);
  });

  it('refuses a DOCTYPE, so entities are never declared, expanded or fetched', () => {
    fails('<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>', /DOCTYPE/);
    fails('<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>', /DOCTYPE/);
    fails('<!doctype r><r/>', /DOCTYPE/);
  });

  it('refuses entities other than the predefined five where text is read', () => {
    fails('<r a="&secret;"/>', /undefined entity '&secret;'/);
    fails('<r><m>&secret;</m></r>', /undefined entity/, { capture: ['m'] });
  });

  it('says a file is truncated wherever it ends', () => {
    const xml = '<r><case name="x"><m>text<![CDATA[more]]></m><!-- c --></case></r>';
    for (let cut = 1; cut < xml.length; cut++) {
      assert.throws(() => tokenize(xml.slice(0, cut), { capture: ['m'] }), XmlError, `cut at ${cut}`);
    }
    fails('<r><a></a>', /<r> is closed \(the file is truncated\)/);
    fails('<r><![CDATA[abc', /CDATA section \(the file is truncated\)/);
    fails('<r><!-- abc', /comment \(the file is truncated\)/);
  });

  it('refuses empty input, text outside the root, junk, bad nesting and bad tags', () => {
    fails('', /is empty/);
    fails('  \n ', /is empty/);
    fails(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00]), /not an XML document/);
    fails('hello <r/>', /not an XML document/);
    fails('<r/>trailing', /text after the root element/);
    fails('<r/><r/>', /more than one root element/);
    fails('<a><b></a></b>', /closes <b> with <\/a>/);
    fails('<a x=1/>', /unquoted attribute/);
    fails('<a x/>', /attribute without a value/);
    fails('<a x="1" x="2"/>', /repeated attribute/);
    fails('<1a/>', /invalid name/);
    fails('<a\u0000/>', /not well-formed XML: it has a NUL byte at byte 2/);
    fails('<!ELEMENT a ANY><a/>', /not XML/);
  });

  it('bounds what it buffers: tag size and nesting depth', () => {
    const limits = { maxDepth: 8, maxMarkupBytes: 1024 };
    fails(`<r a="${'x'.repeat(5000)}"/>`, /tag longer than 1024 bytes/, { limits, chunk: 256 });
    fails(`${'<a>'.repeat(9)}${'</a>'.repeat(9)}`, /deeper than 8 levels/, { limits });
    assert.equal(tokenize(`${'<a>'.repeat(8)}${'</a>'.repeat(8)}`, { limits }).length, 16);
  });

  it('skips a huge text it was not asked for without keeping it', () => {
    const tokenizer = new XmlTokenizer({ open: () => 0, close: () => {} });
    tokenizer.write(Buffer.from('<r><big>'));
    const block = Buffer.alloc(1024 * 1024, 0x61);
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 64; i++) tokenizer.write(block);
    const grown = process.memoryUsage().arrayBuffers - before;
    tokenizer.write(Buffer.from('</big></r>'));
    tokenizer.end();
    assert.ok(grown < 16 * 1024 * 1024, `buffers grew by ${grown} bytes while 64 MiB of text went through`);
  });

  it('passes a UTF-8 byte order mark, even split across chunks', () => {
    const xml = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<r a="é"/>')]);
    assert.equal(tokenize(xml, { chunk: 1 })[0].attrs!.a, 'é');
  });
});
