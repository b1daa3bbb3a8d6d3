// v2l in the browser, end to end in headless Chromium (Debian's, through playwright-core) against the
// static build served from 127.0.0.1 by `v2l serve --static`'s server: the page is given the fixture's
// tokenizer (exported as `v2l export-onnx` writes it), its codebook package, the STAND-IN CLIP and
// stories260K, and its results are compared with the Node path on the same files: local and global ids
// identical to V2LTokenizer's (onnxruntime-node, what `v2l tokenize` runs), the reconstruction within one
// grey level of Node's. Screenshots go to the test output folder ($V2L_TEST_OUTPUT or tmp/test-output).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { skipUnless, sharedRequired } from '../util/test-utils/shared.js';
import { FIXTURE_NEEDS, PHOTOS, chromiumPath, writeViewerFixture, type ViewerFixture } from '../serve/test-utils/fixture.js';
import { startStaticServer, type StaticServer } from '../serve/static.js';
import { V2LTokenizer, type Reconstruction } from '../tokenizer/tokenizer.js';
import { chooseModels, launchChromium, writeExport, writeZip, ensureDir } from './test-utils.js';
import { loadLLM } from '../models/llm/load.js';
import type { LLM } from '../models/llm/types.js';
import { openDataset } from '../tasks/fewshot/dataset.js';
import { sampleEpisodes } from '../tasks/fewshot/episodes.js';
import { runFewshot } from '../tasks/fewshot/run.js';
import { tokenizerTokens } from '../tasks/image-tokens.js';
import { restoreImages } from '../tasks/restore/run.js';
import { writeStandInClip } from '../models/clip/stand-in.js';
import { fingerprintClip, requiredClipFiles } from '../models/clip/transformers-clip.js';
import { cpSync } from 'node:fs';
import { MERGES, hugePng } from '../serve/test-utils/fixture.js';
import { sharedPath } from '../util/test-utils/shared.js';
import { filesOf } from './test-utils.js';

const chromium = chromiumPath();
if (!chromium && sharedRequired()) throw new Error('V2L_REQUIRE_SHARED=1 but no Chromium is installed (apt-get install -y chromium, or set V2L_CHROMIUM)');
const skip = skipUnless(FIXTURE_NEEDS, 'stories260K, CLIP\'s BPE merges and the photos') ||
  (chromium ? false : 'needs Chromium for the browser tests: none at /usr/bin/chromium (apt-get install -y chromium) or $V2L_CHROMIUM');

const OUT = process.env.V2L_TEST_OUTPUT ? join(process.env.V2L_TEST_OUTPUT, 'browser') : fileURLToPath(new URL('../../tmp/test-output/browser/', import.meta.url));
let dir = '';
let f: ViewerFixture;
let exportDir = '';
let packageZip = '';
let srv: StaticServer;
let browser: Browser;
let page: Page;
let photo = '';
let labelled = '';
let tok: V2LTokenizer;
let llm: LLM;
const pageErrors: string[] = [];

before(async () => {
  if (skip) return;
  ensureDir(OUT);
  dir = mkdtempSync(join(tmpdir(), 'v2l-browser-static-'));
  f = await writeViewerFixture(join(dir, 'fixture'));
  exportDir = await writeExport(f.checkpoint, f.codebook, join(dir, 'export'));
  // The V2L package as one zip (the export and the codebook, each in its folder): the first test loads it.
  packageZip = writeZip(join(dir, 'v2l-package.zip'), { 'v2l/onnx': exportDir, 'v2l/codebook': f.codebook });
  // A photo small enough that Node decodes it whole (no JPEG shrink-on-load shortcut): both sides then
  // start from the same pixels. Non-square, so the centre crop is exercised.
  photo = join(dir, 'coffee-150.png');
  writeFileSync(photo, await sharp(join(PHOTOS, 'coffee.png')).resize(150, 100).png().toBuffer());
  // A labelled set of class folders (small PNGs made from the photos) for one few-shot episode.
  labelled = join(dir, 'labelled');
  for (const [cls, files] of [['dog', ['dog.jpg', 'pets.jpg']], ['bird', ['eagle.jpg', 'owl.jpg', 'parrot.jpg']]] as const) {
    ensureDir(join(labelled, cls));
    for (const file of files) writeFileSync(join(labelled, cls, file.replace(/\.jpg$/, '.png')), await sharp(join(PHOTOS, file)).resize(120, 90).png().toBuffer());
  }
  // The Node path on the same files: V2LTokenizer on onnxruntime-node (what `v2l tokenize`, `v2l
  // reconstruct` and `v2l fewshot` run) and stories260K on node-llama-cpp.
  tok = await V2LTokenizer.load({ checkpoint: f.checkpoint, codebook: f.codebook, clip: f.clip, engine: 'onnx', onnxCache: null });
  llm = await loadLLM(f.llm, { local: { contextSize: 512 } });
  const script = new URL('../../scripts/build-web.mjs', import.meta.url).href;
  const { buildBrowser } = (await import(script)) as { buildBrowser: (out: string) => Promise<{ outdir: string }> };
  const { outdir } = await buildBrowser(join(dir, 'browser'));
  srv = await startStaticServer({ root: outdir, port: 0 });
  browser = await launchChromium(chromium!);
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.setDefaultTimeout(300_000); // a bound that turns a hang into a failure; every wait ends on a page state
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 404|Failed to load resource/.test(m.text())) pageErrors.push(m.text());
  });
});

after(async () => {
  await browser?.close();
  await tok?.dispose();
  await llm?.dispose();
  await srv?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const shot = (name: string) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
const pngPixels = async (sel: string) => {
  const src = await page.getAttribute(sel, 'src');
  assert.ok(src?.startsWith('data:image/png;base64,'), `${sel} has a PNG`);
  return new Uint8Array(await sharp(Buffer.from(src!.split(',')[1], 'base64')).removeAlpha().raw().toBuffer());
};

test('static build: cross-origin isolated, the package zip and models chosen, tokens and reconstruction equal the Node path', { skip }, async (t) => {
  t.diagnostic(`screenshots in ${OUT}`);
  await page.goto(srv.url);
  assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true, 'COOP/COEP make the page cross-origin isolated (wasm threads)');
  await page.waitForSelector('#pick-tokenizer');
  await chooseModels(page, { tokenizer: exportDir, codebook: f.codebook, packageZip, clip: f.clip, llm: f.llm, labelled });
  assert.match(await page.textContent('#files-tokenizer') ?? '', /encoder\.onnx/, 'the zip\'s export kept as the tokenizer\'s files');
  assert.match(await page.textContent('#files-codebook') ?? '', /local\.safetensors/, 'the zip\'s codebook kept as the codebook\'s files');
  assert.match(await page.textContent('#runtime') ?? '', /onnxruntime-web wasm \(\d+ threads?, cross-origin isolated\)/);
  assert.match(await page.textContent('#stand-in') ?? '', /stand-in/i, 'the page says the CLIP is a stand-in');

  await page.setInputFiles('#file', photo);
  await page.waitForSelector('#token-map .cell');
  const cells = await page.locator('#token-map .cell').evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-row')), Number(e.getAttribute('data-col')), Number(e.getAttribute('data-id'))]));
  const globalIds = await page.locator('#global-tokens .chip').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-id'))));
  const rec = await pngPixels('#reconstruction');
  await shot('browser-1-tokens');

  {
    const [res] = await tok.reconstruct([photo]);
    assert.ok(!('error' in res), 'Node reconstructs the photo');
    const r = res as Reconstruction;
    const grid = r.encoded.local.ids;
    assert.equal(cells.length, grid.length * grid[0].length);
    const differing = cells.filter(([y, x, id]) => grid[y][x] !== id);
    assert.deepEqual(differing, [], 'local ids identical to Node\'s');
    assert.deepEqual(globalIds, r.encoded.global.ids, 'global ids identical to Node\'s');
    assert.equal(rec.length, r.reconstruction.data.length);
    let maxDiff = 0;
    rec.forEach((v, i) => { maxDiff = Math.max(maxDiff, Math.abs(v - r.reconstruction.data[i])); });
    t.diagnostic(`reconstruction: largest difference from Node's ${maxDiff} grey level(s)`);
    assert.ok(maxDiff <= 1, `reconstruction within 1 grey level of Node's (got ${maxDiff})`);
    const orig = await pngPixels('#original');
    assert.deepEqual([...orig].filter((v, i) => v !== r.original.data[i]).length, 0, 'the preprocessed input is Node\'s exactly');
  }
  assert.deepEqual(pageErrors, []);
});

test('few-shot: one 2-way 1-shot episode, prompt ids and prediction equal `v2l fewshot`\'s', { skip }, async (t) => {
  const seed = 3;
  await page.click('#tab-fewshot');
  await page.fill('#fewshot-seed', String(seed));
  await page.click('#fewshot-run');
  await page.waitForSelector('#fewshot-verdict, #fewshot-error:not([hidden])');
  assert.ok(await page.isHidden('#fewshot-error'), await page.textContent('#fewshot-error') ?? '');
  const ids = (await page.textContent('#fewshot-prompt-ids code') ?? '').split(' ').map(Number);
  const answer = (await page.textContent('#fewshot-answer') ?? '').trim();
  await shot('browser-2-fewshot');

  const ds = openDataset(labelled);
  const episodes = sampleEpisodes(ds.classes, { ways: 2, shots: 1, episodes: 1, seed });
  const r = await runFewshot({
    episodes, resolve: ds.resolve, className: (w) => w, tokens: tokenizerTokens(tok, { cache: false }), llm, globalTokens: tok.globalTokens,
    induction: true, repeats: 0, protocol: 'paper', decoding: 'trie',
  });
  const rec = r.records[0];
  t.diagnostic(`episode: support ${rec.support.map((s) => s.source).join(', ')}, query ${rec.query.source}; Node predicts ${rec.prediction}, the page answers "${answer}"`);
  assert.deepEqual(ids, rec.prompt_ids, 'prompt ids identical to v2l fewshot\'s');
  assert.equal(answer, rec.generated_text.trim(), 'the same prediction');
  assert.deepEqual(pageErrors, []);
});

test('restoration: one inpainting, restored ids equal `v2l restore`\'s (same LLM, same seed)', { skip }, async (t) => {
  // The photo tokenized on the Tokens tab (first test) is the query.
  await page.click('#tab-restore');
  await page.click('#restore-images .thumb.current');
  await page.fill('#restore-copies', '1');
  await page.fill('#restore-n', '8');
  await page.click('#restore-start');
  await page.waitForSelector('#restore-status.done, #restore-error:not([hidden])');
  assert.ok(await page.isHidden('#restore-error'), await page.textContent('#restore-error') ?? '');
  const status = await page.textContent('#restore-status') ?? '';
  assert.match(status, /Done in .* 32 steps, \d+ LLM calls, [\d,]+ prompt tokens evaluated and [\d,]+ reused/);
  const predicted = await page.locator('.restore-map .predicted').evaluateAll((els) => els.map((e) => [Number(e.getAttribute('data-pos')), Number(/#(\d+)\)$/.exec(e.getAttribute('title') ?? '')?.[1])]));
  assert.equal(predicted.length, 64, 'the 8x8 centre filled in');
  await shot('browser-3-restoration');

  const results = [];
  for await (const r of restoreImages({ task: 'inpaint', protocol: 'clean', tokenizer: tok, llm, images: [photo], m: 2, n: 8, copies: 1, globalTokens: Math.min(21, tok.config.nGlobal) })) results.push(r);
  const rec = results[0].record;
  assert.equal(rec.status, 'ok', rec.error);
  const g = rec.grid!;
  const node = predicted.map(([pos]) => rec.tokens!.restored[Math.floor(pos / g)][pos % g]);
  t.diagnostic(`Node's token accuracy ${rec.accuracy!.restored.toFixed(3)}; ${predicted.filter(([, id], i) => id !== node[i]).length} of 64 restored ids differ`);
  assert.deepEqual(predicted.map(([, id]) => id), node, 'restored ids identical to v2l restore\'s');
  assert.deepEqual(pageErrors, []);
});

const OTHER_VOCAB = sharedPath('models/llama2-vocab-random-tiny/llama2-vocab-random-tiny.gguf');

test('bad input: each wrong file gets its message, the page stays usable, a reload does not ask again', { skip: skip || skipUnless(OTHER_VOCAB, 'llama2-vocab-random-tiny') }, async () => {
  // Another CLIP (a stand-in of another seed), a GGUF of another vocabulary, a cut ONNX model, a huge image.
  // The fixture's codebook names no CLIP fingerprint (so it checks none): a copy that names the stand-in's.
  const codebook = join(dir, 'codebook-fp');
  cpSync(f.codebook, codebook, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(codebook, 'manifest.json'), 'utf8')) as { clip: { fingerprint: string | null } };
  manifest.clip.fingerprint = await fingerprintClip(f.clip, requiredClipFiles());
  writeFileSync(join(codebook, 'manifest.json'), JSON.stringify(manifest));
  const otherClip = join(dir, 'clip-other');
  writeStandInClip(otherClip, { seed: 6, projectionDim: 64, mergesPath: MERGES });
  const cut = join(dir, 'export-cut');
  cpSync(exportDir, cut, { recursive: true });
  const enc = readFileSync(join(cut, 'encoder.onnx'));
  writeFileSync(join(cut, 'encoder.onnx'), enc.subarray(0, Math.floor(enc.length / 2)));

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } }); // its own storage (OPFS)
  const p = await context.newPage();
  p.setDefaultTimeout(300_000);
  const errors: string[] = [];
  p.on('pageerror', (e) => errors.push(e.message));
  // Waits for the next outcome of a choice (an error shown, or the viewer up), then checks it is the error.
  let shown = '';
  const modelsError = async (re: RegExp) => {
    await p.waitForFunction((prev) => document.body.dataset.ready === '1' ||
      (!document.querySelector('#models-error')?.hasAttribute('hidden') && document.querySelector('#models-error')?.textContent !== prev), shown);
    shown = await p.isVisible('#models-error') ? await p.textContent('#models-error') ?? '' : '(no error: the page loaded)';
    assert.match(shown, re);
  };
  // A package zip cut short, and one whose export lacks a file.
  const zipBytes = readFileSync(packageZip);
  const noDecoder = join(dir, 'export-no-decoder');
  cpSync(exportDir, noDecoder, { recursive: true });
  rmSync(join(noDecoder, 'decoder.onnx'));
  const incomplete = writeZip(join(dir, 'incomplete.zip'), { onnx: noDecoder, codebook: f.codebook });
  try {
    await p.goto(srv.url);
    await p.waitForSelector('#pick-tokenizer');
    await p.setInputFiles('#pick-package', { name: 'cut.zip', mimeType: 'application/zip', buffer: zipBytes.subarray(0, zipBytes.length >> 1) });
    await modelsError(/^cut\.zip: cannot read the zip archive \(truncated or corrupt file\?\)/);
    await p.setInputFiles('#pick-package', incomplete);
    await modelsError(/^incomplete\.zip: the tokenizer export in its folder "onnx\/" lacks decoder\.onnx/);
    await p.screenshot({ path: join(OUT, 'browser-4a-bad-zip.png'), fullPage: true });
    await p.setInputFiles('#pick-codebook', filesOf(codebook));
    await p.setInputFiles('#pick-clip', filesOf(otherClip));
    await p.setInputFiles('#pick-tokenizer', filesOf(exportDir));
    await modelsError(/CLIP chosen does not match the codebook.*fingerprint/);
    await p.screenshot({ path: join(OUT, 'browser-4-wrong-clip.png'), fullPage: true });

    await p.setInputFiles('#pick-llm', OTHER_VOCAB);
    await p.setInputFiles('#pick-clip', filesOf(f.clip));
    await modelsError(/LLM llama2-vocab-random-tiny\.gguf does not match the codebook: .*32000 tokens/);

    await p.setInputFiles('#pick-tokenizer', filesOf(cut));
    await p.setInputFiles('#pick-llm', f.llm);
    await modelsError(/tokenizer's encoder\.onnx does not load .*is the file complete\?/);
    await p.screenshot({ path: join(OUT, 'browser-5-cut-onnx.png'), fullPage: true });

    // The right files now: the page loads them, after all those errors.
    await p.setInputFiles('#pick-tokenizer', filesOf(exportDir));
    await p.waitForSelector('body[data-ready="1"]');
    assert.ok(await p.isHidden('#models-error'));

    // An image too large for the page's memory: refused from its header, before decoding.
    await p.setInputFiles('#file', { name: 'huge.png', mimeType: 'image/png', buffer: hugePng(20000, 20000) });
    await p.waitForSelector('#error:not([hidden])');
    assert.match(await p.textContent('#error') ?? '', /huge\.png is 20000x20000 pixels .*the limit is 40\.0 MP/);
    // A cut PNG: named as such.
    const png = readFileSync(photo);
    await p.setInputFiles('#file', { name: 'cut.png', mimeType: 'image/png', buffer: png.subarray(0, png.length >> 1) });
    await p.waitForFunction(() => /cut\.png is a truncated PNG/.test(document.querySelector('#error')?.textContent ?? ''));
    await p.screenshot({ path: join(OUT, 'browser-6-bad-image.png'), fullPage: true });
    // Still usable: a good image tokenizes.
    await p.setInputFiles('#file', photo);
    await p.waitForFunction(() => /^coffee-150\.png: PNG/.test(document.querySelector('#status')?.textContent ?? ''));
    assert.equal(await p.locator('#token-map .cell').count(), 256);

    // The files were kept: a reload loads them without asking.
    await p.reload();
    await p.waitForSelector('body[data-ready="1"]');
    assert.match(await p.textContent('#files-tokenizer') ?? '', /encoder\.onnx/);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
