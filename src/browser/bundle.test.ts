// The in-browser build imports no Node module: esbuild bundles web/browser-main.ts for the browser
// platform, and its metafile (every module that went in, and every import left external) is checked for
// Node built-ins and the Node-only runtimes. (The portable core's own import walk is src/core.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NODE_ONLY = ['onnxruntime-node', 'sharp', 'node-llama-cpp', '@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm', 'onnx-proto', 'commander', 'cli-progress'];

test('the browser bundle holds no Node built-in and no Node-only package', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-bundle-'));
  try {
    const script = new URL('../../scripts/build-web.mjs', import.meta.url).href;
    const { buildBrowser } = (await import(script)) as { buildBrowser: (out: string) => Promise<{ metafile: { inputs: Record<string, { imports: { path: string; external?: boolean }[] }> } }> };
    const { metafile } = await buildBrowser(dir);
    const inputs = Object.keys(metafile.inputs);
    const builtins = new Set(builtinModules);
    const bad: string[] = [];
    for (const [file, info] of Object.entries(metafile.inputs)) {
      if (NODE_ONLY.some((p) => file.includes(`node_modules/${p}/`))) bad.push(`${file} is in the bundle`);
      for (const imp of info.imports.filter((i) => i.path !== '<runtime>')) { // esbuild's own helpers
        if (imp.path.startsWith('node:') || builtins.has(imp.path) || imp.external) bad.push(`${file} imports ${imp.path}${imp.external ? ' (left external)' : ''}`);
      }
    }
    assert.deepEqual(bad, []);
    const ours = inputs.filter((f) => f.startsWith('src/') || f.startsWith('web/'));
    t.diagnostic(`${inputs.length} modules bundled, ${ours.length} of them v2l's own`);
    for (const f of ['src/tokenizer/onnx-engine.ts', 'src/models/llm/trie.ts', 'src/models/llm/prompt.ts', 'src/browser/wllama-llm.ts', 'web/tokens-view.ts']) {
      assert.ok(ours.includes(f), `${f} is in the bundle (the same core and the same front end)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
