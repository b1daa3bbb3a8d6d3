// sharp (libvips) loaded on first use, not when a module that may decode or encode images is imported:
// `import 'v2l'` and `v2l --help` stay fast.
import type sharpFn from 'sharp';

type Sharp = typeof sharpFn;

let mod: Promise<Sharp> | null = null;

/** The sharp constructor (imported once). */
export async function sharp(): Promise<Sharp> {
  mod ??= import('sharp').then((m) => ((m as unknown as { default?: Sharp }).default ?? (m as unknown as Sharp)));
  return mod;
}
