// The portable core (v2l/core) may import only fflate and its own modules: no
// Node API (node:*), no native or heavy runtime, so that it can run in a browser. Checked by walking the
// static imports from src/core.ts (type-only imports are free).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ALLOWED = new Set(['fflate']);

test('v2l/core imports only fflate and portable modules of its own', () => {
  const root = dirname(fileURLToPath(import.meta.url));
  const seen = new Set<string>();
  const bad: string[] = [];
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) {
      if (m[1]) continue; // import type / export type: erased
      const spec = m[2];
      if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else if (!ALLOWED.has(spec)) bad.push(`${relative(root, file)} imports ${spec}`);
    }
    for (const m of src.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) if (!m[1].startsWith('.') && !ALLOWED.has(m[1])) bad.push(`${relative(root, file)} imports ${m[1]} (dynamically)`);
  };
  visit(join(root, 'core.ts'));
  assert.deepEqual(bad, []);
  assert.ok(seen.size > 20, `walked ${seen.size} modules`);
});
