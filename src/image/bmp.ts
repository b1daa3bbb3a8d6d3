// Windows BMP decoding. sharp's prebuilt libvips has no BMP loader ("unsupported image format"), and
// BMP is common in sample sets, so the format is decoded here: BITMAPCOREHEADER and
// BITMAPINFOHEADER through V5, 1/4/8-bit palettes, 16/24/32-bit, BI_RGB and BI_BITFIELDS, bottom-up
// and top-down rows. RLE-compressed BMPs are refused with a clear error. Portable: bytes in.
import type { RawImage } from './types.js';

export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 26 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

/** Width and height from the header, without decoding (for size guards). */
export function bmpSize(bytes: Uint8Array, what = 'BMP data'): { width: number; height: number } {
  if (!isBmp(bytes)) throw new Error(`${what}: not a BMP file`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hs = dv.getUint32(14, true);
  if (hs === 12) return { width: dv.getUint16(18, true), height: dv.getUint16(20, true) };
  return { width: dv.getInt32(18, true), height: Math.abs(dv.getInt32(22, true)) };
}

function maskShift(mask: number): { shift: number; max: number } {
  if (mask === 0) return { shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

/** Decodes a BMP to 8-bit RGB, or RGBA when the file carries an alpha channel that is used. */
export function decodeBmp(bytes: Uint8Array, what = 'BMP data'): RawImage {
  if (!isBmp(bytes)) throw new Error(`${what}: not a BMP file`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (end: number) => {
    if (end > bytes.length) throw new Error(`${what}: BMP data truncated`);
  };
  need(26);
  const dataOffset = dv.getUint32(10, true);
  const hs = dv.getUint32(14, true);
  let width: number, height: number, bpp: number, compression = 0, colours = 0;
  if (hs === 12) {
    width = dv.getUint16(18, true);
    height = dv.getUint16(20, true);
    bpp = dv.getUint16(24, true);
  } else {
    if (hs < 40) throw new Error(`${what}: unsupported BMP header size ${hs}`);
    need(14 + 40);
    width = dv.getInt32(18, true);
    height = dv.getInt32(22, true);
    bpp = dv.getUint16(28, true);
    compression = dv.getUint32(30, true);
    colours = dv.getUint32(46, true);
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height <= 0) throw new Error(`${what}: BMP has size ${width}x${height}`);
  if (compression === 1 || compression === 2) throw new Error(`${what}: RLE-compressed BMP is not supported`);
  if (compression !== 0 && compression !== 3 && compression !== 6) throw new Error(`${what}: BMP compression ${compression} (embedded JPEG/PNG) is not supported`);
  // Channel masks: defaults for BI_RGB, from the header (V2+) or right after a 40-byte header for BI_BITFIELDS.
  let masks: number[] = bpp === 16 ? [0x7c00, 0x3e0, 0x1f, 0] : [0xff0000, 0xff00, 0xff, 0];
  if (compression === 3 || compression === 6) {
    const at = 14 + 40;
    need(at + (compression === 6 || hs >= 56 ? 16 : 12));
    masks = [dv.getUint32(at, true), dv.getUint32(at + 4, true), dv.getUint32(at + 8, true), compression === 6 || hs >= 56 ? dv.getUint32(at + 12, true) : 0];
  } else if (bpp === 32 && hs >= 56) {
    // V3+ headers may declare an alpha mask even for BI_RGB; honour it only if present.
    masks[3] = dv.getUint32(14 + 52, true);
  }
  let palette: Uint8Array | null = null;
  if (bpp <= 8) {
    const n = colours || 1 << bpp;
    const entry = hs === 12 ? 3 : 4;
    const at = 14 + hs;
    need(at + n * entry);
    palette = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      palette[i * 3] = bytes[at + i * entry + 2];
      palette[i * 3 + 1] = bytes[at + i * entry + 1];
      palette[i * 3 + 2] = bytes[at + i * entry];
    }
  } else if (bpp !== 16 && bpp !== 24 && bpp !== 32) {
    throw new Error(`${what}: BMP with ${bpp} bits per pixel is not supported`);
  }
  const rowBytes = Math.ceil((width * bpp) / 32) * 4;
  need(dataOffset + rowBytes * (height - 1) + Math.ceil((width * bpp) / 8));
  const hasAlpha = (bpp === 32 || bpp === 16) && masks[3] !== 0;
  const c = hasAlpha ? 4 : 3;
  const out = new Uint8Array(width * height * c);
  const ms = masks.map(maskShift);
  const scale = (v: number, m: { shift: number; max: number }) => (m.max === 0 ? 255 : Math.round((((v >>> m.shift) & m.max) * 255) / m.max));
  let alphaUsed = false;
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * c;
      if (palette) {
        const bit = x * bpp;
        const byte = bytes[row + (bit >> 3)];
        const idx = bpp === 8 ? byte : (byte >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        if (idx * 3 >= palette.length) throw new Error(`${what}: BMP palette index ${idx} out of range`);
        out[o] = palette[idx * 3];
        out[o + 1] = palette[idx * 3 + 1];
        out[o + 2] = palette[idx * 3 + 2];
      } else if (bpp === 24) {
        const p = row + x * 3;
        out[o] = bytes[p + 2];
        out[o + 1] = bytes[p + 1];
        out[o + 2] = bytes[p];
      } else {
        const v = bpp === 32 ? dv.getUint32(row + x * 4, true) : dv.getUint16(row + x * 2, true);
        out[o] = scale(v, ms[0]);
        out[o + 1] = scale(v, ms[1]);
        out[o + 2] = scale(v, ms[2]);
        if (hasAlpha) {
          out[o + 3] = scale(v, ms[3]);
          if (out[o + 3] !== 0) alphaUsed = true;
        }
      }
    }
  }
  if (hasAlpha && !alphaUsed) {
    // An all-zero alpha channel means "unused" in practice (many writers leave it 0): drop it.
    const rgb = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) rgb.set(out.subarray(i * 4, i * 4 + 3), i * 3);
    return { data: rgb, width, height, channels: 3 };
  }
  return { data: out, width, height, channels: c };
}
