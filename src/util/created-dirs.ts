// Node edge: undoing the folders a run created (`mkdirSync(dir, { recursive: true })` returns the first
// one it made) when the run is refused, so that a refused run leaves nothing behind. Only empty folders
// are removed: anything someone else wrote there stays.
import { rmdirSync } from 'node:fs';
import { dirname, relative, sep } from 'node:path';

/** Removes `dir` and its parents up to `created` (the first folder mkdir made), each only while empty. */
export function removeCreatedDirs(created: string | undefined, dir: string): void {
  if (!created) return;
  const depth = relative(created, dir).split(sep).filter(Boolean).length;
  let d = dir;
  for (let i = 0; i <= depth; i++) {
    try {
      rmdirSync(d);
    } catch {
      return; // not empty (someone else wrote there) or gone
    }
    d = dirname(d);
  }
}
