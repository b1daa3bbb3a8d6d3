// Model presets against local HTTP servers (no internet needed): a closed port, a server that serves the
// preset's files with Range support, and one that answers 404.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pullPreset, listCached, findPreset, resolveModelPath, presetDir, formatBytes } from './hub.js';

function listen(server: Server): Promise<number> {
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res((server.address() as AddressInfo).port)));
}
function close(server: Server): Promise<void> {
  return new Promise((res) => server.close(() => res()));
}
/** Deterministic contents for a file name. */
function content(file: string): Buffer {
  return Buffer.from(Array.from({ length: 3000 + file.length * 101 }, (_, i) => (i * 7 + file.length) % 256));
}

test('pull fails with a message naming the host when it cannot be reached', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'v2l-hub-'));
  const s = createServer();
  const port = await listen(s);
  await close(s); // now nothing listens there
  try {
    await assert.rejects(pullPreset('clip-vit-large-patch14', { cacheDir: cache, endpoint: `http://127.0.0.1:${port}`, timeoutMs: 2000 }),
      (err: Error) => {
        assert.match(err.message, new RegExp(`cannot reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
        assert.match(err.message, /Xenova\/clip-vit-large-patch14/);
        assert.match(err.message, /copy them into/);
        return true;
      });
    assert.deepEqual(listCached(cache), []);
    await assert.rejects(pullPreset('no-such-preset', { cacheDir: cache }), /unknown model preset "no-such-preset"/);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('pull downloads every preset file with progress, resumes a .part, and list reports it', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'v2l-hub-'));
  const preset = findPreset('clip-vit-large-patch14');
  const ranges: string[] = [];
  const server = createServer((req, res) => {
    // The hub answers large files with a redirect to its CDN.
    if (req.url === `/${preset.repo}/resolve/main/onnx/text_model.onnx`) {
      res.writeHead(302, { location: '/cdn/onnx/text_model.onnx' }).end();
      return;
    }
    if (req.url?.startsWith('/cdn/')) req.url = `/${preset.repo}/resolve/main/${req.url.slice(5)}`;
    const prefix = `/${preset.repo}/resolve/main/`;
    const file = decodeURIComponent((req.url ?? '').slice(prefix.length));
    if (!req.url?.startsWith(prefix) || !preset.files.includes(file)) {
      res.writeHead(404).end();
      return;
    }
    const body = content(file);
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      ranges.push(file);
      const from = Number(range[1]);
      res.writeHead(206, { 'content-length': body.length - from, 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` });
      res.end(body.subarray(from));
    } else {
      res.writeHead(200, { 'content-length': body.length });
      res.end(body);
    }
  });
  const port = await listen(server);
  try {
    const dir = presetDir(preset, cache);
    // A previous, interrupted pull left half of the vision model.
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    const vision = content('onnx/vision_model.onnx');
    writeFileSync(join(dir, 'onnx/vision_model.onnx.part'), vision.subarray(0, 1000));
    const before = listCached(cache);
    assert.equal(before.length, 1);
    assert.equal(before[0].complete, false);
    assert.equal(before[0].partialBytes, 1000);

    const stages = new Set<string>();
    const r = await pullPreset(preset.name, { cacheDir: cache, endpoint: `http://127.0.0.1:${port}`, onProgress: (e) => stages.add(e.stage) });
    assert.equal(r.dir, dir);
    assert.deepEqual(ranges, ['onnx/vision_model.onnx']);
    for (const f of preset.files) {
      assert.deepEqual(readFileSync(join(dir, f)), content(f), f);
      assert.equal(existsSync(join(dir, `${f}.part`)), false);
    }
    assert.ok(stages.has('clip-vit-large-patch14: onnx/text_model.onnx'));
    const [entry] = listCached(cache);
    assert.equal(entry.complete, true);
    assert.equal(entry.files, preset.files.length);
    assert.equal(entry.bytes, preset.files.reduce((a, f) => a + content(f).length, 0));
    assert.equal(entry.partialBytes, 0);
    // A second pull has nothing to fetch and does not touch the network.
    await close(server);
    const again = await pullPreset(preset.name, { cacheDir: cache, endpoint: `http://127.0.0.1:${port}` });
    assert.equal(again.bytes, 0);
    assert.equal(again.skipped.length, preset.files.length);
    assert.equal(resolveModelPath('clip-vit-large-patch14', cache), dir);
  } finally {
    if (server.listening) await close(server);
    rmSync(cache, { recursive: true, force: true });
  }
});

test('an HTTP error names the URL; nothing is left under the final name', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'v2l-hub-'));
  const server = createServer((_req, res) => res.writeHead(404, 'Not Found').end());
  const port = await listen(server);
  try {
    await assert.rejects(pullPreset('llama-2-7b-gguf', { cacheDir: cache, endpoint: `http://127.0.0.1:${port}` }),
      /TheBloke\/Llama-2-7B-GGUF\/resolve\/main\/llama-2-7b\.Q4_K_M\.gguf failed: HTTP 404/);
    assert.equal(existsSync(join(presetDir('llama-2-7b-gguf', cache), 'llama-2-7b.Q4_K_M.gguf')), false);
    assert.throws(() => resolveModelPath('llama-2-13b-gguf', cache), /v2l models pull llama-2-13b-gguf/);
  } finally {
    await close(server);
    rmSync(cache, { recursive: true, force: true });
  }
});

test('sizes and hashes are checked: a corrupt download, a truncated hand copy and a file changed after the pull are caught', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'v2l-hub-'));
  const preset = findPreset('llama-2-7b-gguf');
  const file = preset.files[0];
  const body = content(file);
  let served = body;
  const server = createServer((req, res) => {
    const sha = createHash('sha256').update(body).digest('hex');
    const h = { 'content-length': served.length, 'x-linked-etag': `"${sha}"`, 'x-linked-size': body.length };
    res.writeHead(200, h);
    res.end(req.method === 'HEAD' ? undefined : served);
  });
  const port = await listen(server);
  const endpoint = `http://127.0.0.1:${port}`;
  const dir = presetDir(preset, cache);
  try {
    // The server sends other bytes than its hash says: refused, nothing under the final name.
    served = Buffer.from(body).fill(1, 0, 10);
    await assert.rejects(pullPreset(preset.name, { cacheDir: cache, endpoint }), /has sha256 .*, the server's file has/);
    assert.equal(existsSync(join(dir, file)), false);
    // A truncated copy made by hand: the server's size is checked before marking the folder.
    served = body;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, file), body.subarray(0, 100));
    await assert.rejects(pullPreset(preset.name, { cacheDir: cache, endpoint }), /has 100 bytes, the server's file has \d+; delete it and pull again/);
    assert.equal(listCached(cache)[0].complete, false);
    // A good copy is verified and marked; truncated afterwards, the folder is no longer complete.
    writeFileSync(join(dir, file), body);
    const r = await pullPreset(preset.name, { cacheDir: cache, endpoint });
    assert.deepEqual(r.unverified, []);
    const marker = JSON.parse(readFileSync(join(dir, '.v2l-complete.json'), 'utf8')) as { files: Record<string, { sha256: string; verified: boolean }> };
    assert.equal(marker.files[file].sha256, createHash('sha256').update(body).digest('hex'));
    assert.equal(listCached(cache)[0].complete, true);
    writeFileSync(join(dir, file), body.subarray(0, 10));
    assert.equal(listCached(cache)[0].complete, false);
    // Offline, a hand copy is marked but reported unverified.
    writeFileSync(join(dir, file), body);
    rmSync(join(dir, '.v2l-complete.json'));
    await close(server);
    const off = await pullPreset(preset.name, { cacheDir: cache, endpoint, timeoutMs: 1000 });
    assert.deepEqual(off.unverified, [file]);
  } finally {
    if (server.listening) await close(server);
    rmSync(cache, { recursive: true, force: true });
  }
});

test('formatBytes', () => {
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(1_700_000_000), '1.7 GB');
});
