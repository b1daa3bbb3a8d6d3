// Node edge: where the few-shot images live. Two layouts are understood, for `--dataset` and for the
// `--images` root of a split file:
// - folder per class: `<root>/<wnid>/<file>` (Mini-ImageNet's layout, the reference's `/data/all`);
// - Tiny-ImageNet's val layout: `<root>/images/<file>` with `<root>/val_annotations.txt` giving each file's
//   wnid (and `words.txt` the names). Fields stay `wnid/filename`, resolved through the annotations.
// Class names: `--names <file>` (see parseClassNames), else the root's `words.txt` if present, else the
// folder names (wnids).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseClassNames, type Episode } from './episodes.js';

const IMAGE_EXT = /\.(jpe?g|png|bmp|webp|gif|tiff?)$/i;

export interface FewshotDataset {
  root: string;
  layout: 'folders' | 'tiny-imagenet';
  /** wnid -> `wnid/filename` fields. */
  classes: Map<string, string[]>;
  /** The file of a `wnid/filename` field. */
  resolve(field: string): string;
}

export function openDataset(root: string): FewshotDataset {
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new Error(`${root}: no such folder`);
  const ann = join(root, 'val_annotations.txt');
  if (existsSync(ann) && existsSync(join(root, 'images'))) {
    const classes = new Map<string, string[]>();
    const wnidOf = new Map<string, string>();
    readFileSync(ann, 'utf8').split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      const [file, wnid] = line.split('\t');
      if (!file || !wnid) throw new Error(`${ann}:${i + 1}: expected "file<TAB>wnid...", got ${JSON.stringify(line)}`);
      wnidOf.set(file, wnid);
      let list = classes.get(wnid);
      if (!list) classes.set(wnid, (list = []));
      list.push(`${wnid}/${file}`);
    });
    return {
      root, layout: 'tiny-imagenet', classes,
      resolve(field) {
        const [wnid, file] = [field.slice(0, field.indexOf('/')), field.slice(field.indexOf('/') + 1)];
        // A real folder-per-class copy wins; else the annotation must agree with the field's class.
        const direct = join(root, field);
        if (existsSync(direct)) return direct;
        if (wnidOf.get(file) !== wnid) return direct; // reported missing by checkImages
        return join(root, 'images', file);
      },
    };
  }
  const classes = new Map<string, string[]>();
  for (const d of readdirSync(root).sort()) {
    const p = join(root, d);
    if (d.startsWith('.') || !statSync(p).isDirectory()) continue;
    const files = readdirSync(p).filter((f) => IMAGE_EXT.test(f)).sort();
    classes.set(d, files.map((f) => `${d}/${f}`)); // an empty class stays, to be refused by name
  }
  if (![...classes.values()].some((f) => f.length)) throw new Error(`${root}: no class folders with images (expected <root>/<class>/<image>, or Tiny-ImageNet's images/ + val_annotations.txt)`);
  return { root, layout: 'folders', classes, resolve: (field) => join(root, field) };
}

/** An images root for a split file: either layout; nothing is listed up front. */
export function imagesRoot(root: string): Pick<FewshotDataset, 'root' | 'resolve'> {
  if (existsSync(join(root, 'val_annotations.txt')) && existsSync(join(root, 'images'))) return openDataset(root);
  if (!existsSync(root)) throw new Error(`--images ${root}: no such folder`);
  return { root, resolve: (field) => join(root, field) };
}

/** Every image of every episode must exist before any work: the first missing ones are named with their split line. */
export function checkImages(episodes: readonly Episode[], resolve: (field: string) => string, source: string): void {
  const missing: string[] = [];
  const seen = new Set<string>();
  for (const e of episodes) {
    for (const q of e.queries) {
      for (const img of [...e.support, q]) {
        if (seen.has(img.field)) continue;
        seen.add(img.field);
        if (!existsSync(resolve(img.field))) missing.push(`${img.field} (${q.line ? `${source}:${q.line}` : `episode ${e.index}`}; looked for ${resolve(img.field)})`);
      }
    }
  }
  if (missing.length) throw new Error(`${missing.length} image(s) named by the episodes do not exist: ${missing.slice(0, 5).join('; ')}${missing.length > 5 ? '; ...' : ''}`);
}

/** wnid -> name: from `--names`, else `<root>/words.txt`, else the wnids themselves. */
export function loadClassNames(namesFile: string | undefined, root: string | undefined): { names: Map<string, string>; source: string } {
  if (namesFile) {
    if (!existsSync(namesFile)) throw new Error(`--names ${namesFile}: no such file`);
    return { names: parseClassNames(readFileSync(namesFile, 'utf8'), namesFile), source: namesFile };
  }
  const words = root ? join(root, 'words.txt') : undefined;
  if (words && existsSync(words)) return { names: parseClassNames(readFileSync(words, 'utf8'), words), source: words };
  return { names: new Map(), source: 'folder names' };
}

/** The name of a class; a mapping file that lacks one of the episodes' classes is refused (named). */
export function classNameOf(names: Map<string, string>, source: string, episodes: readonly Episode[]): (wnid: string) => string {
  if (names.size > 0) {
    const lacking = new Set<string>();
    for (const e of episodes) for (const x of [...e.support, ...e.queries]) if (!names.has(x.wnid)) lacking.add(x.wnid);
    if (lacking.size) throw new Error(`${source} has no name for ${lacking.size} class(es) of the episodes: ${[...lacking].slice(0, 5).join(', ')}`);
  }
  const nameOf = (wnid: string) => names.get(wnid) ?? wnid;
  // Two classes of one episode under one name could not be told apart by the LLM or the scoring.
  for (const e of episodes) {
    const seen = new Map<string, string>();
    for (const s of e.support) {
      const other = seen.get(nameOf(s.wnid));
      if (other !== undefined && other !== s.wnid) throw new Error(`${source}: classes ${other} and ${s.wnid} are both named "${nameOf(s.wnid)}" (episode ${e.index}); give --names with distinct names`);
      seen.set(nameOf(s.wnid), s.wnid);
    }
  }
  return nameOf;
}
