// The built-in demo tokenizer, as a user who has just installed v2l meets it: a copy of the package in a
// folder with no ../shared beside it, an empty cache, no model flags. Nothing here reads ../shared.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { demoDir, readDemoManifest } from './demo.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
let top = '';
let pkg = '';
let cache = '';

before(async () => {
  // <top>/pkg is the package (sources, demo/, bin/, package.json; node_modules linked); <top> holds no shared/.
  top = mkdtempSync(join(tmpdir(), 'v2l-demo-'));
  pkg = join(top, 'pkg');
  mkdirSync(pkg);
  for (const p of ['src', 'demo', 'package.json']) cpSync(join(repo, p), join(pkg, p), { recursive: true });
  symlinkSync(join(repo, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  // bin/v2l.js runs dist/; the copy runs the sources the tests check, through tsx.
  writeFileSync(join(pkg, 'v2l.mjs'), "import { main } from './src/cli/main.ts';\n" +
    "main(process.argv).catch((e) => { console.error(`v2l: ${e instanceof Error ? e.message : String(e)}`); process.exit(1); });\n");
  cache = join(top, 'cache');
  // A photo made here: a colour gradient with a dark disc.
  const w = 96, h = 80;
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const disc = (x - 50) ** 2 + (y - 40) ** 2 < 400;
      px.set(disc ? [20, 30, 40] : [(x * 255) / w, (y * 255) / h, 128], (y * w + x) * 3);
    }
  }
  await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg().toFile(join(top, 'photo.jpg'));
});
after(() => { if (top) rmSync(top, { recursive: true, force: true }); });

function v2l(...argv: string[]): { status: number | null; stdout: string; stderr: string } {
  // tsx by its URL: the user's folder (the working directory) has no node_modules.
  const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), join(pkg, 'v2l.mjs'), ...argv], {
    cwd: top, encoding: 'utf8', timeout: 300_000,
    env: { ...process.env, V2L_CACHE: cache, V2L_CLIP_MERGES: join(top, 'no-merges-here.txt.gz'), HOME: top },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the demo ships a manifest naming its files and the stand-in CLIP it needs', () => {
  const m = readDemoManifest();
  assert.equal(m.format, 'v2l-demo/1');
  assert.match(m.note, /DEMO/);
  assert.match(m.clip.fingerprint, /^[0-9a-f]{64}$/);
  assert.ok(existsSync(join(demoDir(), m.checkpoint)));
  for (const f of ['manifest.json', 'local.safetensors', 'global.safetensors', 'local.json', 'global.json']) assert.ok(existsSync(join(demoDir(), m.codebook, f)), f);
});

test('fresh install, empty cache, no ../shared: `v2l tokenize photo.jpg` with no model flag prints demo tokens', () => {
  assert.ok(!existsSync(join(top, 'shared')));
  const r = v2l('tokenize', 'photo.jpg');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /built-in DEMO tokenizer/);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]) as { source: string; demo: boolean; global: { ids: number[]; tokens: string[] }; local: { ids: number[][] } };
  assert.equal(rec.source, 'photo.jpg');
  assert.equal(rec.demo, true);
  assert.equal(rec.global.ids.length, 5);
  assert.equal(rec.global.tokens.length, 5);
  assert.equal(rec.local.ids.length, 16, '64 px -> 16 rows of local tokens');
  for (const row of rec.local.ids) {
    assert.equal(row.length, 16);
    for (const id of row) assert.ok(Number.isInteger(id) && id >= 0 && id < 512, `local id ${id} is in stories260K's vocabulary`);
  }
  // The stand-in CLIP was generated into the cache, checked against the codebook's fingerprint.
  assert.deepEqual(readdirSync(join(cache, 'demo')).map((d) => d.slice(0, 14)), ['stand-in-clip-']);
});

test('`v2l reconstruct photo.jpg -o rec.png` with no model flag writes original | reconstruction', async () => {
  const r = v2l('reconstruct', 'photo.jpg', '-o', 'rec.png');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { size: number; psnr: number; demo: boolean };
  assert.equal(out.demo, true);
  assert.equal(out.size, 64);
  assert.ok(Number.isFinite(out.psnr));
  const meta = await sharp(join(top, 'rec.png')).metadata();
  assert.equal(meta.height, 64);
  assert.ok(meta.width! >= 128, `side by side: ${meta.width}`);
});

test('a model flag turns the demo off: a half-given model is still refused by name', () => {
  const r = v2l('tokenize', '--checkpoint', join(demoDir(), 'tokenizer.safetensors'), 'photo.jpg');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--clip/);
  assert.doesNotMatch(r.stderr, /DEMO/);
});

test('npm pack includes the demo files', () => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repo, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const files = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0].files.map((f) => f.path));
  const m = readDemoManifest();
  for (const f of ['demo/demo.json', `demo/${m.checkpoint}`, `demo/${m.codebook}/manifest.json`, `demo/${m.codebook}/local.safetensors`, `demo/${m.codebook}/global.safetensors`, `demo/${m.codebook}/local.json`, `demo/${m.codebook}/global.json`]) {
    assert.ok(files.has(f), `${f} is in the package`);
  }
});
