// `v2l serve --static`'s server: every answer carries the headers that make the page cross-origin
// isolated (wasm threads), files are served by exact name only, and a folder that is not the build is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStaticServer } from './static.js';

/** A raw GET (the path sent as is, no URL normalisation): status, headers, body. */
function get(url: string, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('static server: COOP/COEP on every answer, exact names only, wasm typed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-static-'));
  mkdirSync(join(dir, 'site', 'wllama'), { recursive: true });
  writeFileSync(join(dir, 'site', 'index.html'), '<!doctype html><title>x</title>');
  writeFileSync(join(dir, 'site', 'wllama', 'a.wasm'), new Uint8Array([0, 97, 115, 109]));
  writeFileSync(join(dir, 'secret.txt'), 'not served');
  const srv = await startStaticServer({ root: join(dir, 'site'), port: 0 });
  try {
    const index = await get(srv.url, '/');
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-type']), /text\/html/);
    const wasm = await get(srv.url, '/wllama/a.wasm');
    assert.equal(wasm.headers['content-type'], 'application/wasm');
    for (const r of [index, wasm, await get(srv.url, '/../secret.txt'), await get(srv.url, '/nope.js')]) {
      assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp');
    }
    assert.equal((await get(srv.url, '/../secret.txt')).status, 404);
    assert.equal((await get(srv.url, '/%2e%2e/secret.txt')).status, 404);
  } finally {
    await srv.close();
  }
  await assert.rejects(startStaticServer({ root: dir, port: 0 }), /has no index\.html: not the in-browser build/);
  await assert.rejects(startStaticServer({ root: join(dir, 'absent'), port: 0 }), /no in-browser build at .*npm run build/);
  rmSync(dir, { recursive: true, force: true });
});
