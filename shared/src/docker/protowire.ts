// The few protobuf messages the engine speaks here (BuildKit's trace, the session's auth and health calls) are small
// and fixed, so a wire-format reader and writer of ~80 lines replaces a schema compiler and .proto files that a
// bundle would have to carry. Wire format: https://protobuf.dev/programming-guides/encoding/

/** One field of a message: its number and either a number (varint, fixed) or the raw bytes (length-delimited). */
export interface WireField {
  field: number;
  wireType: number;
  value: number | Buffer;
}

/** Reads the top-level fields of one message in order; nested messages stay as bytes for the caller to decode. */
export function readFields(buf: Buffer): WireField[] {
  const fields: WireField[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new Error('truncated protobuf varint');
      const byte = buf[pos++];
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
    throw new Error('protobuf varint longer than 10 bytes');
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    let value: number | Buffer;
    switch (wireType) {
      case 0:
        value = varint();
        break;
      case 1:
        if (pos + 8 > buf.length) throw new Error('truncated protobuf fixed64');
        value = Number(buf.readBigUInt64LE(pos));
        pos += 8;
        break;
      case 2: {
        const length = varint();
        if (pos + length > buf.length) throw new Error('truncated protobuf field');
        value = buf.subarray(pos, pos + length);
        pos += length;
        break;
      }
      case 5:
        if (pos + 4 > buf.length) throw new Error('truncated protobuf fixed32');
        value = buf.readUInt32LE(pos);
        pos += 4;
        break;
      default:
        throw new Error(`unsupported protobuf wire type ${wireType}`);
    }
    fields.push({ field, wireType, value });
  }
  return fields;
}

export function fieldString(value: number | Buffer): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : '';
}

export function fieldBytes(value: number | Buffer): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.alloc(0);
}

export function fieldNumber(value: number | Buffer): number {
  return typeof value === 'number' ? value : 0;
}

function encodeVarint(n: number): Buffer {
  const bytes: number[] = [];
  let rest = n;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** Encodes a message of string, bytes and unsigned varint fields; empty values are left out, as proto3 does. */
export function writeFields(fields: Array<{ field: number; value: string | Buffer | number }>): Buffer {
  const parts: Buffer[] = [];
  for (const { field, value } of fields) {
    if (typeof value === 'number') {
      if (value === 0) continue;
      parts.push(encodeVarint(field * 8), encodeVarint(value));
    } else {
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
      if (bytes.length === 0) continue;
      parts.push(encodeVarint(field * 8 + 2), encodeVarint(bytes.length), bytes);
    }
  }
  return Buffer.concat(parts);
}
