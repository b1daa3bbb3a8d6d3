// The viewer's server over HTTP (no browser): tokens with distances and alternatives agree with
// V2LTokenizer.encode; token edits re-decode; every kind of bad input gets its 4xx with a message;
// a full queue answers 503 with Retry-After; nothing the page sends can name a file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { skipUnless } from '../util/test-utils/shared.js';
import { V2LTokenizer, type EncodedImage } from '../tokenizer/tokenizer.js';
import { readVocabulary } from '../models/llm/gguf-vocabulary.js';
import { FIXTURE_NEEDS, PHOTOS, buildFrontEnd, loadViewerTokenizer, hugePng, writeViewerFixture } from './test-utils/fixture.js';
import { Viewer } from './viewer.js';
import { startServer, type RunningServer } from './server.js';
import { JobQueue, BusyError } from './queue.js';
import { sniffImage } from './upload.js';
import { displayPiece } from './token-text.js';

const skip = skipUnless(FIXTURE_NEEDS, 'stories260K, CLIP\'s BPE merges and the photos');
let dir = '';
let tok: V2LTokenizer;
let srv: RunningServer;
let viewer: Viewer;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'v2l-serve-'));
  const f = await writeViewerFixture(join(dir, 'fixture'));
  const web = await buildFrontEnd(dir);
  tok = await loadViewerTokenizer(f);
  viewer = new Viewer({ tokenizer: tok, vocabulary: await readVocabulary(f.llm), imagesDir: PHOTOS, limits: { maxUploadBytes: 2 * 1024 * 1024, maxPixels: 4_000_000 } });
  srv = await startServer({ viewer, port: 0, webRoot: web });
});

after(async () => {
  await srv?.close();
  viewer?.dispose();
  if (tok) {
    await tok.dispose();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) => fetch(new URL(path, srv.url), { method: 'POST', body, headers: { 'x-v2l': '1', ...headers } });
const getJson = async (path: string) => {
  const r = await fetch(new URL(path, srv.url));
  return { status: r.status, body: await r.json() as Record<string, unknown> };
};

test('content sniffing and raw-piece display', () => {
  assert.equal(sniffImage(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0])), 'png');
  assert.equal(sniffImage(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0])), 'jpeg');
  assert.equal(sniffImage(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>')), null);
  assert.equal(sniffImage(new TextEncoder().encode('GIF89a....')), 'gif');
  assert.equal(displayPiece('▁dog'), '▁dog');
  assert.equal(displayPiece('<0x0A>'), '<0x0A>');
  assert.equal(displayPiece('<0xE4>'), '<0xE4>'); // a UTF-8 fragment stays a byte
  assert.equal(displayPiece('<s>'), '<s>');
  assert.equal(displayPiece('Ġdog', 'bytelevel'), '▁dog');
  assert.equal(displayPiece('Ċ', 'bytelevel'), '<0x0A>');
});

test('the queue runs one job at a time and refuses past its bound', async () => {
  const q = new JobQueue(1);
  let running = 0;
  let most = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const job = async () => {
    running++;
    most = Math.max(most, running);
    await gate;
    running--;
  };
  const a = q.run(job);
  const b = q.run(job);
  assert.throws(() => q.run(job), (e: unknown) => e instanceof BusyError && e.retryAfterS >= 1 && /busy/.test(e.message));
  release();
  await Promise.all([a, b]);
  assert.equal(most, 1);
  await q.run(() => 1); // room again
});

test('tokenize: ids and texts equal encode(); distances and alternatives nearest first; decode of the same ids is the reconstruction', { skip }, async () => {
  const bytes = readFileSync(join(PHOTOS, 'dog.jpg'));
  const r = await post('/api/tokenize?name=dog.jpg', bytes);
  assert.equal(r.status, 200);
  const t = await r.json() as {
    image: string; grid: number; psnr: number; reconstruction: string; original: string;
    global: { id: number; text: string; distance: number }[]; globalAlternatives: { id: number; distance: number }[];
    local: { id: number; text: string; distance: number; alternatives: { id: number; distance: number }[] }[][];
  };
  assert.equal(t.grid, 16);
  const [enc] = await tok.encode([join(PHOTOS, 'dog.jpg')]) as EncodedImage[];
  assert.deepEqual(t.local.map((row) => row.map((c) => c.id)), enc.local.ids);
  assert.deepEqual(t.global.map((g) => g.id), enc.global.ids);
  assert.deepEqual(t.global.map((g) => g.text), enc.global.tokens);
  const g = [...t.global, ...t.globalAlternatives].map((x) => x.distance);
  assert.deepEqual(g, [...g].sort((a, b) => a - b));
  for (const row of t.local) for (const c of row) {
    assert.equal(c.alternatives.length, 7);
    const d = [c.distance, ...c.alternatives.map((a) => a.distance)];
    assert.deepEqual(d, [...d].sort((a, b) => a - b));
    assert.ok(!c.alternatives.some((a) => a.id === c.id));
  }
  assert.ok(t.local.flat().some((c) => c.text.startsWith('▁')), 'raw SentencePiece pieces with their visible space mark');
  assert.ok(t.psnr > 0 && t.original.startsWith('data:image/png;base64,'));
  // Same ids: the same image; one cell replaced by its nearest alternative: a different one.
  const ids = t.local.map((row) => row.map((c) => c.id));
  const same = await (await post('/api/decode', JSON.stringify({ image: t.image, local: ids, global: t.global.map((x) => x.id) }), { 'content-type': 'application/json' })).json() as { reconstruction: string; psnr: number; changed: { local: number } };
  assert.equal(same.reconstruction, t.reconstruction);
  assert.equal((same as unknown as { maxChange: number }).maxChange, 0);
  assert.equal(same.psnr, t.psnr);
  ids[5][7] = t.local[5][7].alternatives[0].id;
  const edited = await (await post('/api/decode', JSON.stringify({ image: t.image, local: ids, global: t.global.map((x) => x.id) }), { 'content-type': 'application/json' })).json() as { reconstruction: string; changed: { local: number } };
  assert.equal(edited.changed.local, 1);
  assert.ok((edited as unknown as { maxChange: number }).maxChange > 0);
  const px = async (u: string) => sharp(Buffer.from(u.split(',')[1], 'base64')).raw().toBuffer();
  assert.notDeepEqual(await px(edited.reconstruction), await px(t.reconstruction));
});

test('bad input: each a 4xx that says what is wrong', { skip }, async () => {
  const jpg = readFileSync(join(PHOTOS, 'dog.jpg'));
  const cases: [string, Promise<Response>, number, RegExp][] = [
    ['non-image', post('/api/tokenize', 'hello, this is text'), 415, /not an image in an accepted format.*"hello, this is t/],
    ['empty', post('/api/tokenize', ''), 415, /body is empty/],
    ['truncated JPEG', post('/api/tokenize', jpg.subarray(0, Math.floor(jpg.length / 2))), 422, /premature end|truncated|cannot decode/i],
    ['too many bytes', post('/api/tokenize', Buffer.alloc(3 * 1024 * 1024, 1)), 413, /the limit is 2\.0 MB/],
    ['no header', fetch(new URL('/api/tokenize', srv.url), { method: 'POST', body: jpg }), 403, /x-v2l/],
    ['GET on POST route', fetch(new URL('/api/tokenize', srv.url)), 405, /takes POST/],
    ['bad JSON', post('/api/decode', '{"image":', { 'content-type': 'application/json' }), 400, /not valid JSON/],
    ['unknown image', post('/api/decode', JSON.stringify({ image: 'nope', local: [], global: [] })), 404, /tokenize it again/],
    ['bad kind', fetch(new URL('/api/lookup?kind=file&q=x', srv.url)), 400, /local or global/],
    ['bad limit', fetch(new URL('/api/codebook?limit=abc', srv.url)), 400, /"limit" must be an integer/],
    ['folder index out of range', post('/api/tokenize?folder=9999', ''), 404, /no folder image 9999/],
    ['a path is not a route', fetch(new URL('/api/folder/..%2F..%2Fetc%2Fpasswd/thumb', srv.url)), 404, /no API route/],
    ['restoration without an LLM', post('/api/restore', JSON.stringify({ folder: 0, task: 'inpaint' })), 404, /needs an LLM model/],
    ['few-shot without an LLM', post('/api/fewshot', '{}'), 404, /need an LLM model/],
    ['static path traversal', fetch(new URL('/..%2Fpackage.json', srv.url)), 404, /no page/],
  ];
  for (const [what, p, status, re] of cases) {
    const r = await p;
    const body = await r.json() as { error: string };
    assert.equal(r.status, status, `${what}: ${body.error}`);
    assert.match(body.error, re, what);
  }
  // 20000x20000 pixels in a small file: refused from its header, before decoding.
  const big = hugePng(20000, 20000);
  assert.ok(big.length < 2 * 1024 * 1024, `${big.length} bytes`);
  assert.equal((await sharp(big, { limitInputPixels: false }).metadata()).width, 20000, 'a valid PNG');
  const rb = await post('/api/tokenize', new Uint8Array(big));
  assert.equal(rb.status, 413);
  assert.match((await rb.json() as { error: string }).error, /20000x20000 pixels.*limit is 4\.0 MP/);
  // Edits are checked against the codebooks.
  const t = await (await post('/api/tokenize', readFileSync(join(PHOTOS, 'coffee.png')))).json() as { image: string; local: { id: number }[][]; global: { id: number }[] };
  const ids = t.local.map((row) => row.map((c) => c.id));
  ids[0][0] = 99999;
  const r = await post('/api/decode', JSON.stringify({ image: t.image, local: ids, global: t.global.map((g) => g.id) }));
  assert.equal(r.status, 400);
  assert.match((await r.json() as { error: string }).error, /"local\[0\]"\[0\] = 99999 is not a token id in \[0, 512\)/);
});

test('lookup, codebook search and the folder index', { skip }, async () => {
  const l = await getJson('/api/lookup?kind=local&q=the');
  const m = l.body.matches as { id: number; text: string }[];
  assert.equal(m[0].text, '▁the');
  const cb = await getJson('/api/codebook?q=day');
  assert.ok((cb.body.entries as { text: string }[]).some((e) => e.text === 'day'));
  const folder = await getJson('/api/folder');
  assert.ok((folder.body.images as unknown[]).length >= 20);
  const thumb = await fetch(new URL('/api/folder/0/thumb', srv.url));
  assert.equal(thumb.headers.get('content-type'), 'image/png');
  // Index the folder (polling the API as the page does) and check an entry's images really have it.
  const entry = (cb.body.entries as { id: number }[])[0].id;
  let r = await getJson(`/api/codebook/${entry}/images`);
  while (r.body.status !== 'ready') {
    await new Promise((res) => setTimeout(res, 200));
    r = await getJson(`/api/codebook/${entry}/images`);
  }
  assert.equal(r.body.done, r.body.total);
  let seen = 0;
  for (let id = 0; id < tok.config.nGlobal; id++) seen += ((await getJson(`/api/codebook/${id}/images`)).body.images as unknown[]).length;
  assert.equal(seen, (r.body.total as number) * tok.globalTokens, 'each image is listed under each of its global tokens');
});

test('the page is served with a CSP and the API refuses foreign Host headers', { skip }, async () => {
  const page = await fetch(srv.url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.match(await page.text(), /<script type="module" src="\/app.js">/);
  const js = await fetch(new URL('/app.js', srv.url));
  assert.equal(js.status, 200);
  const { request } = await import('node:http');
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: srv.port, path: '/api/info', headers: { host: 'evil.example:80' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 421);
});

test('upload bytes held at once are bounded: past the budget, 503 with Retry-After', { skip }, async () => {
  const small = await startServer({ viewer, port: 0, webRoot: join(dir, 'web'), uploadBudgetBytes: 1000 });
  try {
    const r = await fetch(new URL('/api/tokenize', small.url), { method: 'POST', body: readFileSync(join(PHOTOS, 'coffee.png')), headers: { 'x-v2l': '1' } });
    assert.equal(r.status, 503);
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.match((await r.json() as { error: string }).error, /busy receiving other uploads/);
  } finally {
    await small.close();
  }
});
