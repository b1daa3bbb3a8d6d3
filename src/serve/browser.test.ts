// The viewer end to end in headless Chromium (Debian's package, driven by playwright-core; no browser
// download): upload a photo, wait for the token map, hover a cell and read its tooltip, replace a local
// and a global token and see the decoded image change (pixels compared), type a word, upload a truncated
// JPEG and read the error on the page, browse the codebook. Each state is screenshotted into the test
// output folder ($V2L_TEST_OUTPUT or tmp/test-output/serve-browser).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { skipUnless, sharedRequired, sharedPath } from '../util/test-utils/shared.js';
import { V2LTokenizer } from '../tokenizer/tokenizer.js';
import { readVocabulary } from '../models/llm/gguf-vocabulary.js';
import { loadLLM } from '../models/llm/load.js';
import type { LLM } from '../models/llm/types.js';
import { CHROMIUM_ARGS, FIXTURE_NEEDS, PHOTOS, buildFrontEnd, loadViewerTokenizer, chromiumPath, writeViewerFixture } from './test-utils/fixture.js';
import { Viewer } from './viewer.js';
import { startServer, type RunningServer } from './server.js';

const chromium = chromiumPath();
if (!chromium && sharedRequired()) throw new Error('V2L_REQUIRE_SHARED=1 but no Chromium is installed (apt-get install -y chromium, or set V2L_CHROMIUM)');
const TINY = sharedPath('data/tiny-imagenet-val');
const skip = skipUnless([...FIXTURE_NEEDS, TINY], 'stories260K, CLIP\'s BPE merges, the photos and Tiny-ImageNet val') ||
  (chromium ? false : 'needs Chromium for the browser tests: none at /usr/bin/chromium (apt-get install -y chromium) or $V2L_CHROMIUM');

const OUT = process.env.V2L_TEST_OUTPUT ? join(process.env.V2L_TEST_OUTPUT, 'serve-browser') : fileURLToPath(new URL('../../tmp/test-output/serve-browser/', import.meta.url));
let dir = '';
let tok: V2LTokenizer;
let srv: RunningServer;
let viewer: Viewer;
let browser: Browser;
let page: Page;
let llm: LLM;
const pageErrors: string[] = [];

before(async () => {
  if (skip) return;
  mkdirSync(OUT, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'v2l-browser-'));
  const f = await writeViewerFixture(join(dir, 'fixture'));
  const web = await buildFrontEnd(dir);
  tok = await loadViewerTokenizer(f);
  // stories260K was trained on 128-token sequences; a few-shot prompt needs more (mechanically fine).
  llm = await loadLLM(f.llm, { local: { contextSize: 512 } });
  viewer = new Viewer({ tokenizer: tok, vocabulary: await readVocabulary(f.llm), imagesDir: PHOTOS, llm, fewshotData: TINY });
  srv = await startServer({ viewer, port: 0, webRoot: web });
  const { chromium: pw } = await import('playwright-core');
  browser = await pw.launch({ executablePath: chromium!, args: CHROMIUM_ARGS });
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  // Waits end when the page shows the state; the bound only turns a hang into a failure (a loaded CI
  // machine can take many seconds per network call).
  page.setDefaultTimeout(180_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    // A 4xx the page reports on purpose is logged by Chromium as a failed resource; anything else is a bug.
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) pageErrors.push(m.text());
  });
});

after(async () => {
  await browser?.close();
  await srv?.close();
  viewer?.dispose();
  await llm?.dispose();
  if (tok) {
    await tok.dispose();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const shot = (name: string) => page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
const pixels = async (sel: string) => {
  const src = await page.getAttribute(sel, 'src');
  assert.ok(src?.startsWith('data:image/png;base64,'), `${sel} has a PNG`);
  return sharp(Buffer.from(src!.split(',')[1], 'base64')).raw().toBuffer();
};

test('upload, token map, tooltip, token edits re-decode, typed word, truncated JPEG, codebook', { skip }, async (t) => {
  t.diagnostic(`screenshots in ${OUT}`);
  await page.goto(srv.url);
  await page.waitForSelector('body[data-ready="1"]');
  assert.match(await page.textContent('#stand-in') ?? '', /stand-in/i, 'the page says the CLIP is a stand-in');

  // Drag and drop a file onto the drop zone.
  const dt = await page.evaluateHandle((b64) => {
    const d = new DataTransfer();
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    d.items.add(new File([bytes], 'coffee.png', { type: 'image/png' }));
    return d;
  }, readFileSync(join(PHOTOS, 'coffee.png')).toString('base64'));
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: dt });
  await page.waitForFunction(() => /^coffee\.png: PNG/.test(document.querySelector('#status')?.textContent ?? ''));

  // Upload a ../shared photo with the file chooser and wait for the 16x16 map.
  await page.setInputFiles('#file', join(PHOTOS, 'dog.jpg'));
  await page.waitForFunction(() => /^dog\.jpg: JPEG/.test(document.querySelector('#status')?.textContent ?? ''));
  await page.waitForSelector('#token-map .cell');
  assert.equal(await page.locator('#token-map .cell').count(), 256);
  assert.equal(await page.locator('#global-tokens .chip').count(), 5);
  await shot('1-tokens');

  // Hover: id, text and distance of that cell.
  const cell = page.locator('#token-map .cell[data-row="4"][data-col="6"]');
  const id = Number(await cell.getAttribute('data-id'));
  const text = await cell.textContent();
  await cell.hover();
  await page.waitForSelector('#tooltip:not([hidden])');
  const tip = await page.textContent('#tooltip') ?? '';
  assert.ok(tip.includes(`id ${id}`) && tip.includes(text ?? '\u0000'), tip);
  assert.match(tip, /row 4, column 6/);
  assert.match(tip, /distance to the encoder output \d+\.\d{3}/);
  await shot('2-hover');

  // The keyboard reaches every cell: focus the map, arrows move the cursor and its tooltip. The mouse
  // leaves the map first and the test waits for the tooltip's mouseleave: a pointer resting on a cell
  // gets a mouseenter again whenever Chromium re-hit-tests after a layout change (a timer, later under
  // load), which would put that cell's tooltip back over the keyboard cursor's.
  await page.mouse.move(0, 0);
  await page.waitForSelector('#tooltip[hidden]', { state: 'attached' });
  await page.focus('#token-map');
  await page.waitForSelector('#token-map .cell.cursor[data-row="0"][data-col="0"]');
  await page.keyboard.press('ArrowDown');
  await page.waitForSelector('#token-map .cell.cursor[data-row="1"][data-col="0"]');
  await page.keyboard.press('ArrowRight');
  await page.waitForSelector('#token-map .cell.cursor[data-row="1"][data-col="1"]');
  await page.waitForFunction(() => /row 1, column 1/.test(document.querySelector('#tooltip')?.textContent ?? ''));

  // Replace that cell by its nearest alternative: the decoded image changes.
  const before = await pixels('#reconstruction');
  await cell.click();
  await page.waitForSelector('#editor #alternatives button');
  const alt = page.locator('#alternatives button:not(.selected)').first();
  const altId = Number(await alt.getAttribute('data-id'));
  await alt.click();
  await page.waitForSelector('#edited-figure:not([hidden]) #edited[src^="data:"]');
  await page.waitForFunction(() => /After your 1 edit/.test(document.querySelector('#edited-caption')?.textContent ?? ''));
  assert.equal(Number(await page.getAttribute('#token-map .cell[data-row="4"][data-col="6"]', 'data-id')), altId);
  const after1 = await pixels('#edited');
  assert.equal(after1.length, before.length);
  assert.ok(after1.some((v, i) => v !== before[i]), 'one local token changed the picture');
  assert.match(await page.getAttribute('#token-map .cell[data-row="4"][data-col="6"]', 'class') ?? '', /edited/);
  assert.ok(await page.isVisible('#difference-figure'), 'where the picture changed');
  await shot('3-edit-local');

  // A global token: pick the next nearest entry.
  await page.click('#global-tokens .chip[data-index="0"]');
  await page.locator('#alternatives button:not(.selected)').first().click();
  await page.waitForFunction(() => /1 global/.test(document.querySelector('#edited-caption')?.textContent ?? ''));
  const after2 = await pixels('#edited');
  assert.ok(after2.some((v, i) => v !== after1[i]), 'one global token changed the picture');
  await shot('4-edit-global');

  // Type a word into a cell: the LLM's "▁the" becomes that cell's token.
  await page.click('#token-map .cell[data-row="0"][data-col="0"]');
  await page.fill('#edit-word', 'the');
  await page.waitForSelector('#matches button.choice');
  assert.equal((await page.textContent('#matches button.choice'))?.replace(/\s*#\d+$/, ''), '▁the');
  await page.press('#edit-word', 'Enter');
  await page.waitForFunction(() => /2 local/.test(document.querySelector('#edited-caption')?.textContent ?? ''));
  assert.equal(await page.textContent('#token-map .cell[data-row="0"][data-col="0"]'), '▁the');
  await shot('5-typed-word');

  // A truncated JPEG: the server's reason, on the page.
  const jpg = readFileSync(join(PHOTOS, 'dog.jpg'));
  await page.setInputFiles('#file', { name: 'truncated.jpg', mimeType: 'image/jpeg', buffer: jpg.subarray(0, Math.floor(jpg.length / 2)) });
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error') ?? '', /truncated\.jpg.*(premature end|truncated)/i);
  await shot('6-error');

  // Codebook: search an entry, see which folder images carry it.
  await page.click('#tab-codebook');
  await page.fill('#codebook-search', 'day');
  await page.waitForFunction(() => /entr(y|ies) match/.test(document.querySelector('#entries')?.textContent ?? ''));
  await page.locator('#entries button.entry').first().click();
  await page.waitForFunction(() => /“day”/.test(document.querySelector('#entry-detail h3')?.textContent ?? ''));
  await page.waitForFunction(() => /of \d+ images have it/.test(document.querySelector('#entry-status')?.textContent ?? ''), undefined, { timeout: 120_000 });
  await shot('7-codebook');
  assert.deepEqual(pageErrors, []);
});

test('restoration: progress streams in, the LLM\'s work is counted, original | corrupted | restored', { skip }, async () => {
  await page.goto(srv.url);
  await page.waitForSelector('body[data-ready="1"]');
  // The image tokenized on the Tokens tab is offered first.
  await page.setInputFiles('#file', join(PHOTOS, 'horse.png'));
  await page.waitForSelector('#token-map .cell');
  await page.click('#tab-restore');
  await page.click('#restore-images .thumb.current');
  // 10 examples of a 32-token window do not fit the 512-token context: the library's reason on the page.
  await page.fill('#restore-n', '32');
  await page.click('#restore-start');
  await page.waitForSelector('#restore-error:not([hidden])');
  assert.match(await page.textContent('#restore-error') ?? '', /needs \d+ tokens.*context window.*is 512/);
  await page.fill('#restore-copies', '1');
  await page.fill('#restore-n', '8');
  await page.click('#restore-start');
  await page.waitForSelector('.restore-map .predicted');
  assert.match(await page.textContent('#restore-status') ?? '', /Step \d+ of 32: .*prompt tokens evaluated/);
  await page.waitForSelector('#restore-status.done', { timeout: 300_000 });
  const status = await page.textContent('#restore-status') ?? '';
  assert.match(status, /32 steps, \d+ LLM calls, [\d,]+ prompt tokens evaluated/);
  assert.equal(await page.locator('.restore-map .predicted').count(), 64, 'the 8x8 centre filled in');
  for (const id of ['original', 'corrupted', 'restored', 'rec-corrupted']) assert.equal(await page.locator(`#fig-${id} img`).count(), 1, id);
  assert.ok(await page.isHidden('#restore-error'));
  assert.match(await page.textContent('#restore-status') ?? '', /Done/);
  await shot('8-restoration');
  assert.deepEqual(pageErrors, []);

  // A folder image, through the API and its event stream as the page reads them.
  const r = await fetch(new URL('/api/restore', srv.url), { method: 'POST', headers: { 'x-v2l': '1' }, body: JSON.stringify({ folder: 8, task: 'outpaint', copies: 1, n: 8 }) });
  assert.equal(r.status, 202);
  const { job } = await r.json() as { job: string };
  const events = await (await fetch(new URL(`/api/restore/${job}/events`, srv.url))).text(); // ends with the job
  const names = [...events.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
  assert.deepEqual([names[0], names[1], names.at(-2), names.at(-1)], ['queued', 'start', 'done', 'end']);
  assert.equal(names.filter((n) => n === 'step').length, 64, 'outpainting the bottom half: 128 tokens, 2 per step');
});

test('few-shot: an episode, the prompt with image tokens and labels highlighted, the model\'s answer', { skip }, async () => {
  await page.goto(srv.url);
  await page.waitForSelector('body[data-ready="1"]');
  await page.click('#tab-fewshot');
  await page.fill('#fewshot-seed', '3');
  await page.click('#fewshot-run');
  await page.waitForSelector('#fewshot-verdict', { timeout: 300_000 });
  assert.equal(await page.locator('#fewshot-prompt .seg-image').count(), 3, '2 support images and the query');
  assert.equal(await page.locator('#fewshot-prompt .seg-label').count(), 2);
  const prompt = await page.textContent('#fewshot-prompt') ?? '';
  assert.match(prompt, /^<s>For each of the following input-output pairs, output is one of \[/);
  const answer = (await page.textContent('#fewshot-answer') ?? '').trim();
  const labels = await page.locator('#fewshot-prompt .seg-label').allTextContents();
  assert.ok(labels.map((l) => l.trim()).includes(answer), `the answer "${answer}" is one of the episode's classes`);
  assert.match(await page.textContent('#fewshot-verdict') ?? '', /The model answers .*: (correct|wrong).* LLM call/);
  await shot('9-fewshot');
  assert.deepEqual(pageErrors, []);
});
