// The README's "From code" example, run as written in a fresh process: nothing chooses a tensor backend
// first (`V2LTokenizer.load` takes the default), `import { V2LTokenizer } from 'v2l'` (mapped to
// src/index.ts), load, encode, decode. Only the model paths and the image are swapped for the test
// fixture's (a random tokenizer network, STAND-IN codebook and CLIP) and a ../shared photo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sharedPath, skipUnless } from '../util/test-utils/shared.js';
import { taskFixture, FIXTURE_LLMS, CLIP_MERGES } from '../tasks/test-utils/fixtures.js';

const PHOTO = sharedPath('data/photos/dog.jpg');
const skip = skipUnless([FIXTURE_LLMS.stories260K, CLIP_MERGES, PHOTO], 'stories260K, the CLIP merges and the photos');
const ROOT = new URL('../../', import.meta.url);

/** The README's first ```ts block after "From code:". */
function readmeSnippet(): string {
  const readme = readFileSync(new URL('README.md', ROOT), 'utf8');
  const at = readme.indexOf('From code:');
  assert.ok(at >= 0, 'README has a "From code:" example');
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m, 'a ```ts block follows "From code:"');
  return m[1]!;
}

test('README "From code": V2LTokenizer.load, encode and decode run as written, with no initBackend() first', { skip, timeout: 300_000 }, async () => {
  const fx = await taskFixture({ llm: 'stories260K' });
  let code = readmeSnippet();
  assert.match(code, /from 'v2l'/);
  assert.doesNotMatch(code, /initBackend/, 'the example does not choose a backend');
  code = code
    .replace(`from 'v2l'`, `from ${JSON.stringify(new URL('src/index.ts', ROOT).href)}`)
    .replace(/'models\/v2l\/tokenizer\.safetensors'/, JSON.stringify(fx.checkpoint))
    .replace(/'models\/v2l\/codebook'/, JSON.stringify(fx.codebook))
    .replace(/'models\/clip-vit-large-patch14'/, JSON.stringify(fx.clip))
    .replace(/'cat\.jpg'/, JSON.stringify(PHOTO));
  for (const p of [fx.checkpoint, fx.codebook, fx.clip, PHOTO]) assert.ok(code.includes(JSON.stringify(p)), `the example's path was swapped for ${p}`);
  code += `\nconsole.log(JSON.stringify({ global: img.global.tokens.length, rows: img.local.ids.length, cols: img.local.ids[0].length, back: [back.width, back.height, back.data.length] }));\nawait tok.dispose();\n`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT.pathname, encoding: 'utf8', env: { ...process.env, V2L_BACKEND: '' } });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { global: number; rows: number; cols: number; back: number[] };
  assert.deepEqual(out, { global: 5, rows: fx.grid, cols: fx.grid, back: [fx.imageSize, fx.imageSize, fx.imageSize * fx.imageSize * 3] });
});
