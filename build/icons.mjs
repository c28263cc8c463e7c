// Draws the extension's icon and the six task icons from shapes, as PNG, so every image is reproducible from this
// file and the set looks like one family: a rounded tile in the task's colour with a white glyph, drawn on a 32-unit
// grid (the size the classic editor shows a task's icon.png at) and rendered at any size with 8×8 samples a pixel.
//   node build/icons.mjs            writes images/extension-icon.png (128 px) and tasks/<Task>/icon.png (32 px)
//   node build/icons.mjs <Task|extension> <size> <out.png>
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import { isMain } from './bundle.mjs';

const root = resolve(import.meta.dirname, '..');
const WHITE = [255, 255, 255];

// ---- shapes on the 32-unit grid: each answers whether a point is inside ------------------------------------------

const roundRect = (x, y, w, h, r) => (px, py) => {
  const dx = Math.max(x + r - px, 0, px - (x + w - r));
  const dy = Math.max(y + r - py, 0, py - (y + h - r));
  return px >= x && px <= x + w && py >= y && py <= y + h && dx * dx + dy * dy <= r * r;
};
const circle = (cx, cy, r) => (px, py) => (px - cx) ** 2 + (py - cy) ** 2 <= r * r;
const ring = (cx, cy, inner, outer) => (px, py) => {
  const d = Math.hypot(px - cx, py - cy);
  return d >= inner && d <= outer;
};
/** A stroke from (x1,y1) to (x2,y2), `width` wide, with round ends. */
const segment = (x1, y1, x2, y2, width) => (px, py) => {
  const [vx, vy] = [x2 - x1, y2 - y1];
  const t = Math.max(0, Math.min(1, ((px - x1) * vx + (py - y1) * vy) / (vx * vx + vy * vy)));
  return Math.hypot(px - (x1 + t * vx), py - (y1 + t * vy)) <= width / 2;
};
/** Strokes through `points` in turn. */
const polyline = (points, width) => {
  const parts = points.slice(1).map(([x, y], i) => segment(points[i][0], points[i][1], x, y, width));
  return (px, py) => parts.some((inside) => inside(px, py));
};
/** A convex or concave polygon (even-odd rule). */
const polygon = (points) => (px, py) => {
  let inside = false;
  for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
    const [xi, yi] = points[i];
    const [xj, yj] = points[j];
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
};
const union =
  (...shapes) =>
  (px, py) =>
    shapes.some((inside) => inside(px, py));

// ---- the icons ---------------------------------------------------------------------------------------------------

/** The tile every icon sits on. */
const tile = roundRect(1, 1, 30, 30, 6);

/** Each icon: its colour and its layers, painted in order (`erase` cuts through what is below). */
export const ICONS = {
  // The outer loop: a ring open on the right, where the loop goes out and comes back, with an arrowhead.
  extension: {
    color: [0x00, 0x78, 0xd4],
    glyph: () => {
      const open = (px, py) => {
        const angle = Math.atan2(py - 16, px - 16);
        return angle > -0.45 && angle < 0.55;
      };
      const arc = (px, py) => ring(16, 16, 6.2, 10.2)(px, py) && !open(px, py);
      const head = polygon([
        [21.2, 12.6],
        [30.2, 12.6],
        [25.7, 19.4],
      ]);
      return [{ paint: WHITE, shape: union(arc, head) }];
    },
  },
  // Builds an image's test-runner stage: the image's layers, stacked.
  BuildTestRunner: {
    color: [0x00, 0x78, 0xd4],
    glyph: () => {
      const slab = (y) =>
        polygon([
          [16, y - 4.6],
          [25.5, y],
          [16, y + 4.6],
          [6.5, y],
        ]);
      const gap = (y) =>
        polyline(
          [
            [4.5, y + 0.6],
            [16, y + 6.4],
            [27.5, y + 0.6],
          ],
          2.8,
        );
      return [
        { paint: WHITE, shape: slab(22.4) },
        { erase: true, shape: gap(17.2) },
        { paint: WHITE, shape: slab(16.2) },
        { erase: true, shape: gap(11) },
        { paint: WHITE, shape: slab(10) },
      ];
    },
  },
  // Runs the tests in a container: play.
  RunContainerTests: {
    color: [0x00, 0x85, 0x75],
    glyph: () => [
      {
        paint: WHITE,
        shape: polygon([
          [11, 7],
          [25.5, 16],
          [11, 25],
        ]),
      },
    ],
  },
  // Publishes the results: a report with a check mark.
  PublishContainerTestResults: {
    color: [0x10, 0x7c, 0x10],
    glyph: () => [
      { paint: WHITE, shape: roundRect(8.5, 6.5, 15, 19, 2) },
      {
        paint: [0x10, 0x7c, 0x10],
        shape: polyline(
          [
            [11.8, 16.2],
            [14.9, 19.4],
            [20.4, 12.2],
          ],
          2.6,
        ),
      },
    ],
  },
  // Pushes by digest: an arrow up out of a tray, and the digest's #.
  PushImageByDigest: {
    color: [0x5c, 0x2e, 0x91],
    glyph: () => [
      {
        paint: WHITE,
        shape: union(
          polygon([
            [13, 5.5],
            [20, 12.5],
            [6, 12.5],
          ]),
          roundRect(11.4, 11, 3.2, 10, 0.8),
        ),
      },
      {
        paint: WHITE,
        shape: polyline(
          [
            [6, 20],
            [6, 25],
            [20, 25],
          ],
          2.4,
        ),
      },
      {
        paint: WHITE,
        shape: union(
          segment(21, 14.5, 20, 24, 1.8),
          segment(25, 14.5, 24, 24, 1.8),
          segment(18.3, 17.5, 27, 17.5, 1.8),
          segment(18, 21.2, 26.7, 21.2, 1.8),
        ),
      },
    ],
  },
  // Packages a Helm chart: a ship's wheel.
  PackageHelmChart: {
    color: [0x0f, 0x16, 0x89],
    glyph: () => {
      const spokes = Array.from({ length: 6 }, (_, i) => {
        const a = (i * Math.PI) / 3 + Math.PI / 6;
        const [cx, cy] = [Math.cos(a), Math.sin(a)];
        return [segment(16 + cx * 2, 16 + cy * 2, 16 + cx * 10.5, 16 + cy * 10.5, 2.2), circle(16 + cx * 11.2, 16 + cy * 11.2, 2.1)];
      }).flat();
      return [{ paint: WHITE, shape: union(ring(16, 16, 5.4, 8.2), circle(16, 16, 2.6), ...spokes) }];
    },
  },
  // Promotes an approved image: two chevrons up.
  PromoteImage: {
    color: [0xca, 0x50, 0x10],
    glyph: () => [
      {
        paint: WHITE,
        shape: union(
          polyline(
            [
              [8.5, 16],
              [16, 8.5],
              [23.5, 16],
            ],
            3.4,
          ),
          polyline(
            [
              [8.5, 23.5],
              [16, 16],
              [23.5, 23.5],
            ],
            3.4,
          ),
        ),
      },
    ],
  },
};

/** RGBA pixels of `name` at `size` px: the tile, then the glyph's layers. */
export function renderIcon(name, size) {
  const icon = ICONS[name];
  if (!icon) throw new Error(`no icon named '${name}': one of ${Object.keys(ICONS).join(', ')}`);
  const layers = [{ paint: icon.color, shape: tile }, ...icon.glyph()];
  const samples = 8;
  const scale = 32 / size;
  const pixels = Buffer.alloc(size * size * 4);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // Premultiplied colour and alpha, composited layer by layer from the samples' coverage.
      let [r, g, b, a] = [0, 0, 0, 0];
      for (const layer of layers) {
        let covered = 0;
        for (let sy = 0; sy < samples; sy++) {
          for (let sx = 0; sx < samples; sx++) {
            if (layer.shape((x + (sx + 0.5) / samples) * scale, (y + (sy + 0.5) / samples) * scale)) covered++;
          }
        }
        const c = covered / (samples * samples);
        if (layer.erase) {
          [r, g, b, a] = [r * (1 - c), g * (1 - c), b * (1 - c), a * (1 - c)];
        } else {
          const [pr, pg, pb] = layer.paint;
          [r, g, b, a] = [pr * c + r * (1 - c), pg * c + g * (1 - c), pb * c + b * (1 - c), c + a * (1 - c)];
        }
      }
      const offset = (y * size + x) * 4;
      pixels[offset] = a ? Math.round(r / a) : 0;
      pixels[offset + 1] = a ? Math.round(g / a) : 0;
      pixels[offset + 2] = a ? Math.round(b / a) : 0;
      pixels[offset + 3] = Math.round(a * 255);
    }
  }
  return pixels;
}

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

/** `name` at `size` px as a PNG file (8-bit RGBA, no metadata: the same bytes on every run). */
export function drawIcon(name, size) {
  const pixels = renderIcon(name, size);
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) pixels.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
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

/** Where each icon goes and at what size. */
export const ICON_FILES = [
  { name: 'extension', size: 128, path: join('images', 'extension-icon.png') },
  ...Object.keys(ICONS)
    .filter((name) => name !== 'extension')
    .map((name) => ({ name, size: 32, path: join('tasks', name, 'icon.png') })),
];

if (isMain(import.meta.url)) {
  const [name, size, out] = process.argv.slice(2);
  if (name) writeFileSync(out, drawIcon(name, Number(size)));
  else for (const file of ICON_FILES) writeFileSync(join(root, file.path), drawIcon(file.name, file.size));
}
