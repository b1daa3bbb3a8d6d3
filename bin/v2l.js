#!/usr/bin/env node
// The `v2l` command: runs the compiled CLI (built by `npm ci` through the `prepare` script).
import { main } from '../dist/cli/main.js';
main(process.argv).catch((err) => {
  console.error(`v2l: ${err instanceof Error ? err.message : String(err)}`);
  if (process.env.V2L_DEBUG) console.error(err);
  process.exit(1);
});
