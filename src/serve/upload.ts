// Uploaded images: what the bytes are is decided by their content (magic numbers), never by a file name
// or a Content-Type the client claims; the pixel count is read from the header and refused before any
// decoding, so a small file that claims 20000x20000 pixels costs nothing; decoding errors (a truncated
// JPEG) become a 422 that says what is wrong. The format and header checks are ../image/sniff.ts (portable,
// shared with the browser runtime).
import { sharp as loadSharp } from '../image/sharp.js';
import type { RawImage } from '../models/clip/types.js';
import { loadImage } from '../image/load.js';
import { bmpSize } from '../image/bmp.js';
import { ACCEPTED_FORMATS as ACCEPTED, describeBytes, sniffImage, type ImageFormat } from '../image/sniff.js';
import { HttpError } from './http.js';

export { sniffImage, type ImageFormat };

/** libvips repeats its reasons line by line: each once, on one line. */
const reasons = (msg: string) => [...new Set(msg.split(/\n+/).map((l) => l.trim()).filter(Boolean))].join('; ');

export interface UploadLimits {
  /** Largest accepted image, stored pixels (width x height). */
  maxPixels: number;
}

/**
 * Checks and decodes an uploaded image to RGB: 415 for something that is not an image of an accepted
 * format, 413 for too many pixels, 422 for an image that does not decode (truncated, corrupt).
 * `shrinkTo`: the size the tokenizer needs (large JPEGs decode shrunk).
 */
export async function decodeUpload(bytes: Uint8Array, limits: UploadLimits, shrinkTo: number, name = 'upload'): Promise<{ image: RawImage; format: ImageFormat; width: number; height: number }> {
  const format = sniffImage(bytes);
  if (!format) throw new HttpError(415, `${name} is not an image in an accepted format (${ACCEPTED}): ${describeBytes(bytes)}`);
  let width: number;
  let height: number;
  try {
    if (format === 'bmp') ({ width, height } = bmpSize(bytes, name));
    else {
      const sharp = await loadSharp();
      const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
      width = meta.autoOrient?.width ?? meta.width;
      height = meta.autoOrient?.height ?? meta.height;
    }
  } catch (e) {
    throw new HttpError(422, `${name} is a ${format.toUpperCase()} whose header cannot be read: ${reasons((e as Error).message)}`);
  }
  if (!(width > 0 && height > 0)) throw new HttpError(422, `${name} is a ${format.toUpperCase()} with no size in its header`);
  if (width * height > limits.maxPixels) {
    throw new HttpError(413, `${name} is ${width}x${height} pixels (${(width * height / 1e6).toFixed(1)} MP); the limit is ${(limits.maxPixels / 1e6).toFixed(1)} MP`);
  }
  try {
    const image = await loadImage(bytes, { name, maxPixels: limits.maxPixels, shrinkTo });
    return { image, format, width, height };
  } catch (e) {
    // loadImage names the input and gives libvips' reason ("premature end of JPEG file", ...).
    throw new HttpError(422, reasons((e as Error).message.replace(/^cannot decode image /, 'cannot decode ')));
  }
}
