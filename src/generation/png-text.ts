/**
 * PNG text chunks. sharp cannot write them, so the `parameters` chunk (the AUTOMATIC1111
 * convention other image tools read: prompt, "Negative prompt:", then "Key: value, …") is
 * spliced in after encoding, right after IHDR. Latin-1 text goes in tEXt; anything else in an
 * uncompressed UTF-8 iTXt, as PIL does for the same key.
 */
const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

const isLatin1 = (s: string) => /^[\u0000-\u00ff]*$/.test(s);

function assertPng(png: Buffer): void {
  if (png.length < 33 || !png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG file');
  if (png.toString('latin1', 12, 16) !== 'IHDR') throw new Error('PNG does not start with IHDR');
}

/** Return a copy of `png` with a text chunk `key` = `text` inserted after IHDR. */
export function addPngText(png: Buffer, key: string, text: string): Buffer {
  assertPng(png);
  if (!/^[\x20-\x7e]{1,79}$/.test(key)) throw new Error(`invalid PNG text key ${JSON.stringify(key)}`);
  const ihdrEnd = 8 + 4 + 4 + png.readUInt32BE(8) + 4;
  const body = isLatin1(text)
    ? chunk('tEXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]))
    : chunk(
        'iTXt',
        // key \0 compression-flag(0) method(0) language \0 translated-key \0 text
        Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]),
      );
  return Buffer.concat([png.subarray(0, ihdrEnd), body, png.subarray(ihdrEnd)]);
}

/** Every tEXt / uncompressed iTXt chunk of a PNG, by key; CRCs are checked. */
export function readPngText(png: Buffer): Record<string, string> {
  assertPng(png);
  const out: Record<string, string> = {};
  let off = 8;
  while (off + 12 <= png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    const crc = png.readUInt32BE(off + 8 + len);
    if (crc32(png.subarray(off + 4, off + 8 + len)) !== crc) throw new Error(`bad CRC in PNG ${type} chunk`);
    if (type === 'tEXt') {
      const z = data.indexOf(0);
      out[data.toString('latin1', 0, z)] = data.toString('latin1', z + 1);
    } else if (type === 'iTXt') {
      const z = data.indexOf(0);
      const key = data.toString('latin1', 0, z);
      const compressed = data[z + 1] === 1;
      const lang = data.indexOf(0, z + 3);
      const tkey = data.indexOf(0, lang + 1);
      if (!compressed) out[key] = data.toString('utf8', tkey + 1);
    } else if (type === 'IEND') break;
    off += 12 + len;
  }
  return out;
}

/** The A1111 `parameters` text for an image. */
export function parametersText(p: {
  prompt: string;
  negativePrompt: string | null;
  seed: number;
  model: string;
  width: number;
  height: number;
  backend: string;
}): string {
  const lines = [p.prompt];
  if (p.negativePrompt) lines.push(`Negative prompt: ${p.negativePrompt}`);
  lines.push(`Seed: ${p.seed}, Size: ${p.width}x${p.height}, Model: ${p.model}, Backend: ${p.backend}`);
  return lines.join('\n');
}
