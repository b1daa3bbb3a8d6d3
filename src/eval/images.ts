// The images an evaluation runs over: a folder (recursive, sorted by path, so every run and every shard
// sees the same order) or a list file (one path a line, relative to the list; a ",label" or tab-separated
// tail is ignored, as in ImageNet's `path,label` lists). A listed file that is missing is kept: it fails
// when read and is counted and named like any unreadable image. Node edge.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { sha256 } from '../util/hash.js';

export const EVAL_IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.gif', '.tif', '.tiff', '.jfif']);

export function listEvalImages(source: string): string[] {
  const path = resolve(source);
  if (!existsSync(path)) throw new Error(`images: ${source} does not exist (expected an image folder or a list file)`);
  if (statSync(path).isDirectory()) {
    const out: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir).sort()) {
        if (name.startsWith('.')) continue;
        const p = join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (EVAL_IMAGE_EXTENSIONS.has(extname(name).toLowerCase())) out.push(p);
      }
    };
    walk(path);
    if (!out.length) throw new Error(`images: no image files (${[...EVAL_IMAGE_EXTENSIONS].join(' ')}) under ${source}`);
    return out;
  }
  if (EVAL_IMAGE_EXTENSIONS.has(extname(path).toLowerCase())) return [path];
  const base = dirname(path);
  const out = readFileSync(path, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => resolve(base, l.split(/\t|,(?=[^,]*$)/)[0].trim()));
  if (!out.length) throw new Error(`images: the list ${source} names no images`);
  return out;
}

/**
 * Identifies a selection independently of where it is mounted: the count and the sha256 of the paths
 * relative to the folder (or the list's folder), so shards run on other machines still merge.
 */
export function selectionKey(source: string, paths: readonly string[]): { count: number; sha256: string } {
  const abs = resolve(source);
  const root = existsSync(abs) && statSync(abs).isDirectory() ? abs : dirname(abs);
  return { count: paths.length, sha256: sha256(paths.map((p) => relative(root, p)).join('\n')) };
}
