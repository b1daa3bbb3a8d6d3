// Images in the browser: the bytes of a file the user chose, checked by content and header (../image/sniff.ts)
// before anything is decoded, then decoded by the browser itself (createImageBitmap: no colour management,
// no premultiplication, so that a PNG gives its stored values as sharp does in Node) into 8-bit RGB,
// transparency flattened onto white (as src/image/load.ts). RGB -> PNG data URLs for the page.
import type { RawImage } from '../image/types.js';
import { ACCEPTED_FORMATS, describeBytes, headerSize, looksComplete, sniffImage, type ImageFormat } from '../image/sniff.js';

/** An error about the user's input (shown on the page as is). */
export class InputError extends Error {}

export interface DecodedImage {
  image: RawImage;
  format: ImageFormat;
  width: number;
  height: number;
}

/** Checks and decodes image bytes to RGB; refuses a non-image, a cut file and an image over `maxPixels`. */
export async function decodeImageBytes(bytes: Uint8Array, name: string, maxPixels: number): Promise<DecodedImage> {
  const format = sniffImage(bytes);
  if (!format) throw new InputError(`${name} is not an image in an accepted format (${ACCEPTED_FORMATS}): ${describeBytes(bytes)}`);
  const size = headerSize(bytes, format);
  if (size && size.width * size.height > maxPixels) {
    throw new InputError(`${name} is ${size.width}x${size.height} pixels (${(size.width * size.height / 1e6).toFixed(1)} MP); ` +
      `the limit is ${(maxPixels / 1e6).toFixed(1)} MP, to keep the page within the browser's memory`);
  }
  if (!looksComplete(bytes, format)) throw new InputError(`${name} is a truncated ${format.toUpperCase()} (it ends before the end of its image data)`);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([bytes as Uint8Array<ArrayBuffer>]), { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch (e) {
    throw new InputError(`cannot decode ${name} (${format.toUpperCase()}): ${(e as Error).message || 'the browser could not read it'}`);
  }
  const { width, height } = bitmap;
  if (width * height > maxPixels) {
    bitmap.close();
    throw new InputError(`${name} is ${width}x${height} pixels; the limit is ${(maxPixels / 1e6).toFixed(1)} MP`);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2D canvas in this browser');
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
    const a = rgba[p + 3];
    if (a === 255) {
      rgb[q] = rgba[p];
      rgb[q + 1] = rgba[p + 1];
      rgb[q + 2] = rgba[p + 2];
    } else {
      // over white: c * a + 255 * (1 - a)
      for (let c = 0; c < 3; c++) rgb[q + c] = Math.round((rgba[p + c] * a + 255 * (255 - a)) / 255);
    }
  }
  return { image: { data: rgb, width, height, channels: 3 }, format, width, height };
}

/** An 8-bit RGB (or grey) image as a PNG data URL. */
export async function pngDataUrl(img: RawImage): Promise<string> {
  const canvas = new OffscreenCanvas(img.width, img.height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas in this browser');
  const out = new ImageData(img.width, img.height);
  const ch = img.channels;
  for (let p = 0, q = 0; q < out.data.length; p += ch, q += 4) {
    out.data[q] = img.data[p];
    out.data[q + 1] = img.data[ch >= 3 ? p + 1 : p];
    out.data[q + 2] = img.data[ch >= 3 ? p + 2 : p];
    out.data[q + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result as string);
    r.onerror = () => reject(r.error ?? new Error('cannot read the PNG'));
    r.readAsDataURL(blob);
  });
}
