#!/usr/bin/env node
// Runs every `*.test.ts` beside the code (and in scripts/) with Node's built-in test runner, through tsx.
// Node 20's `--test` takes no globs, so the files are listed here. Extra arguments are passed on
// (e.g. `npm test -- --test-name-pattern=parity`); a path argument limits the run to files under it.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
function find(dir, out = []) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}
const args = process.argv.slice(2);
const flags = args.filter((a) => a.startsWith('-'));
const paths = args.filter((a) => !a.startsWith('-'));
let files = [...find(join(root, 'src')), ...find(join(root, 'scripts'))].sort();
if (paths.length) files = files.filter((f) => paths.some((p) => f.startsWith(p.replace(/^\.\//, ''))));
if (!files.length) { console.error('no test files found'); process.exit(1); }
const res = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...flags, ...files], { cwd: root, stdio: 'inherit' });
process.exit(res.status ?? 1);
