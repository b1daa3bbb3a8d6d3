// Tests that read `../shared` (data, reference vectors and models beside the repository) go through
// here, so that a missing file is either a visible skip (a user's fresh clone) or, under
// V2L_REQUIRE_SHARED=1 (CI, development machines), a failure: no test is lost silently.
//
//   const skip = skipUnless([sharedPath('models/stories260K/stories260K.gguf')], 'the stories260K model');
//   test('...', { skip }, async () => { ... });
//
// `skipUnless` returns `false` when every path exists, else a skip message naming the absent paths;
// with V2L_REQUIRE_SHARED=1 it throws instead, which fails the test file with the same message.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The `../shared` folder beside the repository (absolute, ends with '/'). */
export const SHARED_DIR = fileURLToPath(new URL('../../../../shared/', import.meta.url));

/** Absolute path of `p` (relative, e.g. 'models/stories260K/stories260K.gguf') inside `../shared`. */
export function sharedPath(p: string): string {
  return SHARED_DIR + p.replace(/^\/+/, '');
}

/** True when the environment demands that tests needing `../shared` run (V2L_REQUIRE_SHARED=1). */
export function sharedRequired(): boolean {
  const v = process.env.V2L_REQUIRE_SHARED;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/**
 * `false` when every path exists (run the test), else a skip message naming the absent ones and
 * `why` (what they are). Under V2L_REQUIRE_SHARED=1 a missing path throws instead of skipping.
 */
export function skipUnless(paths: string | readonly string[], why?: string): string | false {
  const list = typeof paths === 'string' ? [paths] : paths;
  const missing = list.filter((p) => !existsSync(p));
  if (!missing.length) return false;
  const shown = missing.map((p) => (p.startsWith(SHARED_DIR) ? `../shared/${p.slice(SHARED_DIR.length)}` : p));
  const msg = `needs ${why ? `${why}: ` : ''}${shown.join(', ')} (absent)`;
  if (sharedRequired()) throw new Error(`V2L_REQUIRE_SHARED=1 but a test ${msg}`);
  return msg;
}
