// Draws the Outer Loop icon (a ring with an arrowhead: the loop) as PNG, so the images are reproducible from source.
// Usage: node build/icons.mjs <size> <out.png>
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

function crc32(bytes) {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export function drawIcon(size) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  const c = size / 2;
  const outer = size * 0.42;
  const inner = size * 0.28;
  const samples = 4;
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      let ring = 0;
      let arrow = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const px = x + (sx + 0.5) / samples - c;
          const py = y + (sy + 0.5) / samples - c;
          const r = Math.hypot(px, py);
          const angle = Math.atan2(py, px);
          // A ring open between -20° and +25° (the gap where the loop goes out and comes back).
          if (r >= inner && r <= outer && !(angle > -0.35 && angle < 0.45)) ring++;
          // Arrowhead at the gap's upper end, pointing down along the ring.
          const ax = px - (inner + outer) / 2;
          const ay = py - size * -0.06;
          if (ay > -size * 0.02 && ay < size * 0.2 && Math.abs(ax) < (size * 0.2 - ay) * 0.9 && ay < size * 0.16) arrow++;
        }
      }
      const coverage = Math.min(1, (ring + arrow) / (samples * samples));
      const offset = y * (size * 4 + 1) + 1 + x * 4;
      raw[offset] = 0x00;
      raw[offset + 1] = 0x78;
      raw[offset + 2] = 0xd4;
      raw[offset + 3] = Math.round(coverage * 255);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8;
  header[9] = 6;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(process.argv[3], drawIcon(Number(process.argv[2])));
}
