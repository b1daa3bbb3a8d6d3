// What image bytes are, by their content (magic numbers), and their size from the header alone (portable):
// the viewer's uploads and the browser runtime refuse a non-image or a too-large image before decoding it.
import { bmpSize, isBmp } from './bmp.js';

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'tiff' | 'avif';

export const ACCEPTED_FORMATS = 'PNG, JPEG, GIF, WebP, BMP, TIFF, AVIF';

const startsWith = (b: Uint8Array, sig: readonly number[], at = 0) => b.length >= at + sig.length && sig.every((v, i) => b[at + i] === v);
const ascii = (b: Uint8Array, at: number, n: number) => String.fromCharCode(...b.subarray(at, at + n));

/** The image format of `bytes` by its signature, or null. */
export function sniffImage(bytes: Uint8Array): ImageFormat | null {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a') return 'gif';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'webp';
  if (isBmp(bytes)) return 'bmp';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (ascii(bytes, 4, 4) === 'ftyp' && /^(avif|avis)$/.test(ascii(bytes, 8, 4))) return 'avif';
  return null;
}

/** "the body is empty" / "its first bytes are ..." for messages about bytes that are not an image. */
export function describeBytes(bytes: Uint8Array): string {
  if (!bytes.length) return 'the body is empty';
  const head = ascii(bytes, 0, Math.min(16, bytes.length)).replace(/[^\x20-\x7e]/g, '.');
  return `its first bytes are "${head}"`;
}

/**
 * Width and height from the header of a PNG, JPEG (first SOF marker), GIF, WebP or BMP; null where the
 * format is another or the header is cut short.
 */
export function headerSize(bytes: Uint8Array, format: ImageFormat): { width: number; height: number } | null {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  switch (format) {
    case 'png':
      return n >= 24 ? { width: dv.getUint32(16), height: dv.getUint32(20) } : null;
    case 'gif':
      return n >= 10 ? { width: dv.getUint16(6, true), height: dv.getUint16(8, true) } : null;
    case 'bmp':
      try {
        return bmpSize(bytes, 'image');
      } catch {
        return null;
      }
    case 'webp': {
      const chunk = ascii(bytes, 12, 4);
      if (chunk === 'VP8X' && n >= 30) return { width: 1 + (bytes[24] | (bytes[25] << 8) | (bytes[26] << 16)), height: 1 + (bytes[27] | (bytes[28] << 8) | (bytes[29] << 16)) };
      if (chunk === 'VP8 ' && n >= 30) return { width: dv.getUint16(26, true) & 0x3fff, height: dv.getUint16(28, true) & 0x3fff };
      if (chunk === 'VP8L' && n >= 25) {
        const b = dv.getUint32(21, true);
        return { width: 1 + (b & 0x3fff), height: 1 + ((b >>> 14) & 0x3fff) };
      }
      return null;
    }
    case 'jpeg': {
      let i = 2;
      while (i + 9 < n) {
        if (bytes[i] !== 0xff) return null;
        const marker = bytes[i + 1];
        if (marker === 0xff) {
          i++;
          continue;
        }
        const len = dv.getUint16(i + 2);
        // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
        if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
          return { width: dv.getUint16(i + 7), height: dv.getUint16(i + 5) };
        }
        i += 2 + len;
      }
      return null;
    }
    default:
      return null;
  }
}

/** Whether a PNG or JPEG file ends as its format requires (IEND chunk, EOI marker): a cut file does not. */
export function looksComplete(bytes: Uint8Array, format: ImageFormat): boolean {
  const n = bytes.length;
  if (format === 'png') return n >= 12 && ascii(bytes, n - 8, 4) === 'IEND';
  if (format === 'jpeg') {
    // Some writers pad after EOI: look for FFD9 in the last bytes.
    for (let i = n - 2; i >= Math.max(0, n - 64); i--) if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) return true;
    return false;
  }
  return true;
}
