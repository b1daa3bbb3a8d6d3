// A V2L package given as one zip: the tokenizer export (the folder `v2l export-onnx` writes) and the
// codebook package, each in its own folder of the archive (both hold a manifest.json, so one folder cannot
// hold both), or either alone. The archive is read by the portable zip reader (io/zip.ts) with every
// entry's CRC-32 checked, and split into the page's roles; a damaged or cut archive, or one that lacks a
// file, is refused naming what is wrong. Folders are recognised by their files, whatever their names.
import { readZip } from '../io/zip.js';
import { ONNX_FILES } from '../tokenizer/onnx-engine.js';
import { InputError } from './image.js';
import { EXPORT_NEEDS } from './tokenizer.js';
import type { StoredFile } from './store.js';

/** The files of a codebook package (`codebook/package.ts` writes them). */
export const CODEBOOK_FILES = ['manifest.json', 'local.safetensors', 'global.safetensors', 'local.json', 'global.json'] as const;
/** Files that mark a folder as the export or as the codebook (manifest.json is in both). */
const MARKS: Record<'tokenizer' | 'codebook', readonly string[]> = {
  tokenizer: Object.values(ONNX_FILES).filter((f) => f !== ONNX_FILES.manifest),
  codebook: CODEBOOK_FILES.filter((f) => f !== 'manifest.json'),
};
/** What each must hold; every other file of its folder comes along (an export may hold more models). */
const NEEDED: Record<'tokenizer' | 'codebook', readonly string[]> = { tokenizer: EXPORT_NEEDS, codebook: CODEBOOK_FILES };
const WHAT = { tokenizer: 'tokenizer export', codebook: 'codebook package' } as const;
type PackageRole = keyof typeof MARKS;

export type PackageFiles = Partial<Record<PackageRole, StoredFile[]>>;

/** Whether `head` (a file's first bytes) starts like a zip archive. */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6);
}

/** Whether a chosen file is a zip (by its name or its first bytes). */
export async function isZipFile(name: string, file: Blob): Promise<boolean> {
  return name.toLowerCase().endsWith('.zip') || looksLikeZip(new Uint8Array(await file.slice(0, 4).arrayBuffer()));
}

const folderOf = (path: string) => path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
const baseOf = (path: string) => path.slice(path.lastIndexOf('/') + 1);
const shown = (folder: string) => folder ? `folder "${folder}/"` : 'top folder';

/**
 * The export's and/or the codebook's files from a zip's bytes, each role's files named as in its folder.
 * Throws an InputError naming the archive and what is wrong.
 */
export function unpackPackage(bytes: Uint8Array, zipName: string): PackageFiles {
  let entries: Map<string, Uint8Array>;
  try {
    entries = readZip(bytes, zipName, { verify: true });
  } catch (e) {
    throw new InputError((e as Error).message);
  }
  // Files by folder (folders' own entries, macOS resource forks and Finder files left out).
  const folders = new Map<string, Map<string, Uint8Array>>();
  for (const [path, data] of entries) {
    if (path.endsWith('/') || path.startsWith('__MACOSX/') || baseOf(path) === '.DS_Store') continue;
    const folder = folderOf(path);
    if (!folders.has(folder)) folders.set(folder, new Map());
    folders.get(folder)!.set(baseOf(path), data);
  }
  const out: PackageFiles = {};
  const found: Partial<Record<PackageRole, string>> = {};
  for (const [folder, files] of folders) {
    const roles = (Object.keys(MARKS) as PackageRole[]).filter((r) => MARKS[r].some((f) => files.has(f)));
    if (roles.length > 1) {
      throw new InputError(`${zipName}: the ${shown(folder)} holds files of both the tokenizer export and the codebook package; ` +
        'each has its own manifest.json: put them in two folders of the zip (e.g. onnx/ and codebook/)');
    }
    const role = roles[0];
    if (!role) continue;
    if (found[role] !== undefined) throw new InputError(`${zipName}: two ${WHAT[role]}s, in the ${shown(found[role]!)} and the ${shown(folder)}: keep one`);
    found[role] = folder;
    const missing = NEEDED[role].filter((f) => !files.has(f));
    if (missing.length) throw new InputError(`${zipName}: the ${WHAT[role]} in its ${shown(folder)} lacks ${missing.join(', ')}`);
    out[role] = [...files].map(([name, data]) => ({ name, file: new Blob([data as Uint8Array<ArrayBuffer>]) }));
  }
  if (!out.tokenizer && !out.codebook) {
    const some = [...entries.keys()].slice(0, 6).join(', ');
    throw new InputError(`${zipName} holds no tokenizer export (${EXPORT_NEEDS.join(', ')}) and no codebook package (${CODEBOOK_FILES.join(', ')}); ` +
      `it holds ${entries.size ? `${some}${entries.size > 6 ? ', …' : ''}` : 'nothing'}`);
  }
  return out;
}
