// The six task icons and the extension icon: valid PNGs of the sizes Azure DevOps shows (a task's icon.png at
// 32×32 in the classic editor's task list, the extension's at 128×128), each exactly what build/icons.mjs draws (so
// the set stays one family, reproducible from one source), and told apart at 32 px by their glyphs, not only colour.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { repoRoot } from '../support/env';

interface Png {
  width: number;
  height: number;
  /** RGBA, row by row. */
  pixels: Buffer;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function crc32(bytes: Buffer): number {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/** Decodes an 8-bit RGBA, non-interlaced PNG (what the agent and the browser get), checking every chunk's CRC. */
function decodePng(file: string): Png {
  const bytes = fs.readFileSync(file);
  assert.ok(bytes.subarray(0, 8).equals(SIGNATURE), `${file}: not a PNG`);
  let offset = 8;
  let header: Buffer | undefined;
  const data: Buffer[] = [];
  let ended = false;
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('ascii', offset + 4, offset + 8);
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    assert.equal(bytes.readUInt32BE(offset + 8 + length), crc32(bytes.subarray(offset + 4, offset + 8 + length)), `${file}: ${type} CRC`);
    if (type === 'IHDR') header = body;
    if (type === 'IDAT') data.push(body);
    if (type === 'IEND') ended = true;
    offset += 12 + length;
  }
  assert.ok(header && ended && data.length > 0, `${file}: IHDR, IDAT and IEND`);
  const [width, height] = [header.readUInt32BE(0), header.readUInt32BE(4)];
  assert.deepEqual([...header.subarray(8, 13)], [8, 6, 0, 0, 0], `${file}: 8-bit RGBA, not interlaced`);
  const raw = zlib.inflateSync(Buffer.concat(data));
  const stride = width * 4;
  assert.equal(raw.length, height * (stride + 1), `${file}: image data size`);
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x];
      const left = x >= 4 ? pixels[y * stride + x - 4] : 0;
      const up = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const upLeft = x >= 4 && y > 0 ? pixels[(y - 1) * stride + x - 4] : 0;
      const paeth = () => {
        const p = left + up - upLeft;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        return pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      };
      const predictor = [0, left, up, (left + up) >> 1, filter === 4 ? paeth() : 0][filter];
      assert.ok(predictor !== undefined, `${file}: filter type ${filter}`);
      pixels[y * stride + x] = (value + predictor) & 0xff;
    }
  }
  return { width, height, pixels };
}

/** Which pixels of the tile are glyph (near white, opaque): what tells two icons apart besides their colour. */
function glyphMask(png: Png): boolean[] {
  const mask: boolean[] = [];
  for (let i = 0; i < png.pixels.length; i += 4) {
    const [r, g, b, a] = png.pixels.subarray(i, i + 4);
    mask.push(a > 200 && r > 170 && g > 170 && b > 170);
  }
  return mask;
}

describe('icons (build/icons.mjs)', () => {
  const tasks = fs
    .readdirSync(path.join(repoRoot, 'tasks'))
    .filter((name) => fs.existsSync(path.join(repoRoot, 'tasks', name, 'task.json')))
    .sort();
  const iconOf = (task: string) => path.join(repoRoot, 'tasks', task, 'icon.png');
  let drawIcon: (name: string, size: number) => Buffer;

  before(async () => {
    ({ drawIcon } = (await import(path.join(repoRoot, 'build', 'icons.mjs'))) as { drawIcon: typeof drawIcon });
  });

  it('every task has an icon.png: a valid 32×32 RGBA PNG', () => {
    assert.equal(tasks.length, 6, 'the six marketplace tasks');
    for (const task of tasks) {
      const png = decodePng(iconOf(task));
      assert.deepEqual([png.width, png.height], [32, 32], task);
    }
  });

  it('the extension icon is a valid 128×128 RGBA PNG', () => {
    const png = decodePng(path.join(repoRoot, 'images', 'extension-icon.png'));
    assert.deepEqual([png.width, png.height], [128, 128]);
  });

  it('each icon is exactly what build/icons.mjs draws (run `node build/icons.mjs` after changing a drawing)', () => {
    for (const task of tasks)
      assert.ok(fs.readFileSync(iconOf(task)).equals(drawIcon(task, 32)), `tasks/${task}/icon.png is not what build/icons.mjs draws`);
    assert.ok(
      fs.readFileSync(path.join(repoRoot, 'images', 'extension-icon.png')).equals(drawIcon('extension', 128)),
      'images/extension-icon.png',
    );
  });

  it('at 32 px the six differ in their glyphs, not only their colour: every pair differs in at least 100 of 1024 pixels', () => {
    const masks = new Map(tasks.map((task) => [task, glyphMask(decodePng(iconOf(task)))]));
    for (const [task, mask] of masks) {
      const glyph = mask.filter(Boolean).length;
      assert.ok(glyph >= 100 && glyph <= 500, `${task}: the glyph covers ${glyph} of 1024 pixels (readable: 100 to 500)`);
    }
    for (const [i, a] of tasks.entries()) {
      for (const b of tasks.slice(i + 1)) {
        const differing = masks.get(a)!.filter((on, k) => on !== masks.get(b)![k]).length;
        assert.ok(differing >= 100, `${a} and ${b} differ in only ${differing} glyph pixels at 32 px`);
      }
    }
  });
});
