// The image concepts every layer shares (portable: no Node API).

/** Decoded pixels, row-major, interleaved channels (1 grey, 3 RGB, 4 RGBA), 8 bits each. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** File extensions read as images (lower case, with the dot): what src/image/load.ts decodes. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.gif', '.webp', '.tif', '.tiff', '.avif']);

/** Whether a path names an image file by its extension. */
export function isImagePath(p: string): boolean {
  const m = /(\.[^./\\]+)$/.exec(p);
  return !!m && IMAGE_EXTENSIONS.has(m[1].toLowerCase());
}
