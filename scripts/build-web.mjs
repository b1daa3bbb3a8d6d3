#!/usr/bin/env node
// Builds the viewer's front end (web/) into dist/web (or the folder given): one bundled, minified
// app.js (esbuild), app.css and index.html. Run by `npm run build` / `prepare`; tests call buildWeb().
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function buildWeb(outdir = join(root, 'dist', 'web')) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: [join(root, 'web', 'main.ts')],
    bundle: true,
    minify: true,
    sourcemap: true,
    format: 'esm',
    target: ['chrome110', 'firefox110', 'safari16'],
    outfile: join(outdir, 'app.js'),
    logLevel: 'warning',
  });
  copyFileSync(join(root, 'web', 'style.css'), join(outdir, 'app.css'));
  for (const f of ['index.html', 'favicon.svg']) copyFileSync(join(root, 'web', f), join(outdir, f));
  return outdir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await buildWeb(process.argv[2] ? resolve(process.argv[2]) : undefined);
  console.error(`front end built into ${out}`);
}
