#!/usr/bin/env node
// Builds the front end: `v2l serve`'s page into dist/web (one bundled, minified app.js (esbuild), app.css,
// index.html) and the static in-browser build into dist/static (the same viewer over the in-browser
// engines: web/browser-main.ts, with onnxruntime-web's and wllama's wasm files beside it; any static file
// server can serve it, `v2l serve --static` with the headers for threads). Run by `npm run build` /
// `prepare`; tests call buildWeb() / buildBrowser().
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const TARGET = ['chrome110', 'firefox110', 'safari16'];

export async function buildWeb(outdir = join(root, 'dist', 'web')) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [join(root, 'web', 'main.ts')],
    bundle: true,
    minify: true,
    sourcemap: true,
    format: 'esm',
    target: TARGET,
    outfile: join(outdir, 'app.js'),
    logLevel: 'warning',
  });
  copyFileSync(join(root, 'web', 'style.css'), join(outdir, 'app.css'));
  for (const f of ['index.html', 'favicon.svg']) copyFileSync(join(root, 'web', f), join(outdir, f));
  return outdir;
}

/** Runtime files the page loads by URL (never from a CDN): [source under node_modules, path in the build]. */
export const BROWSER_ASSETS = [
  ['onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.mjs'],
  ['onnxruntime-web/dist/ort-wasm-simd-threaded.asyncify.wasm', 'ort-wasm-simd-threaded.asyncify.wasm'],
  ['@wllama/wllama/esm/single-thread/wllama.wasm', 'wllama/single-thread/wllama.wasm'],
  ['@wllama/wllama/esm/multi-thread/wllama.wasm', 'wllama/multi-thread/wllama.wasm'],
];

/**
 * The static in-browser build. Bundled for the browser platform: a Node module anywhere in its imports
 * fails the build (and src/browser/bundle.test.ts reads the metafile to prove none is there).
 */
export async function buildBrowser(outdir = join(root, 'dist', 'static')) {
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    entryPoints: [join(root, 'web', 'browser-main.ts')],
    bundle: true,
    minify: true,
    sourcemap: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome113', 'firefox120', 'safari17'],
    outfile: join(outdir, 'app.js'),
    metafile: true,
    logLevel: 'warning',
  });
  copyFileSync(join(root, 'web', 'style.css'), join(outdir, 'app.css'));
  copyFileSync(join(root, 'web', 'browser.html'), join(outdir, 'index.html'));
  copyFileSync(join(root, 'web', 'favicon.svg'), join(outdir, 'favicon.svg'));
  for (const [from, to] of BROWSER_ASSETS) {
    mkdirSync(dirname(join(outdir, to)), { recursive: true });
    copyFileSync(join(root, 'node_modules', from), join(outdir, to));
  }
  return { outdir, metafile: result.metafile };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildWeb(process.argv[2] ? resolve(process.argv[2]) : undefined);
  const browser = await buildBrowser(process.argv[3] ? resolve(process.argv[3]) : undefined);
  console.error(`front end built into ${out}; the in-browser build into ${browser.outdir}`);
}
