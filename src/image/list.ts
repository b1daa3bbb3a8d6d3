// Which image files a user means (Node edge): the one rule for `--images`, `--data` and friends.
//   a folder      every image below it (recursively; hidden entries skipped), sorted by path
//   an image      that file (by extension: see IMAGE_EXTENSIONS)
//   a list file   one path per line, relative to the list's folder; blank lines and `#` comments skipped
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { IMAGE_EXTENSIONS, isImagePath } from './types.js';

export interface ListImagesOptions {
  /** How errors name the sources ("images", "training data", "--context-images"). */
  what?: string;
}

/** Image paths from each source, in order; every error names the source and what was expected. */
export function listImages(sources: string | readonly string[], opts: ListImagesOptions = {}): string[] {
  const what = opts.what ?? 'images';
  const out: string[] = [];
  for (const src of typeof sources === 'string' ? [sources] : sources) {
    let st;
    try {
      st = statSync(src);
    } catch {
      throw new Error(`${what}: ${src} does not exist (expected an image folder, an image file or a list file)`);
    }
    if (st.isDirectory()) {
      const found: string[] = [];
      walk(src, found);
      if (!found.length) throw new Error(`${what}: no image files (${[...IMAGE_EXTENSIONS].join(' ')}) under ${src}`);
      out.push(...found.sort());
    } else if (isImagePath(src)) {
      out.push(src);
    } else {
      const base = dirname(resolve(src));
      const lines = readFileSync(src, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
      if (!lines.length) throw new Error(`${what}: the list ${src} names no images`);
      for (const l of lines) {
        const p = isAbsolute(l) ? l : join(base, l);
        if (!existsSync(p)) throw new Error(`${what}: ${p} (listed in ${src}) does not exist`);
        out.push(p);
      }
    }
  }
  return out;
}

function walk(dir: string, out: string[]): void {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    if (ent.name.startsWith('.')) continue;
    const p = join(dir, ent.name);
    if (ent.isDirectory()) walk(p, out);
    else if (isImagePath(ent.name)) out.push(p);
  }
}
