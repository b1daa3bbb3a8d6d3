// The CLI refuses --backend (the tfjs backends are gone) before any work. Commands load on first use: the cheap listing
// (./commands/index.ts) shows what the files define, and a command line loads only its command's file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Command, Help } from 'commander';
import { buildProgram, commandNamed } from './main.js';
import { COMMAND_FILES } from './commands/index.js';
test('--backend is refused saying what replaced it, before the command runs', async () => {
  await assert.rejects(
    (await buildProgram()).exitOverride().parseAsync(['node', 'v2l', '--backend', 'wasm', 'tokenize', '--checkpoint', 'none.safetensors', 'x.jpg']),
    /--backend wasm: the tfjs tensor backends are gone; .*onnxruntime.*--engine-threads/,
  );
});

test('the listing of ./commands/index.ts is what each file registers (names, help terms, descriptions), and `v2l --help` is unchanged by loading none', async () => {
  const help = new Help();
  for (const file of COMMAND_FILES) {
    const p = new Command('v2l');
    (await file.load()).register(p);
    const defined = Object.fromEntries(p.commands.map((c) => [c.name(), { term: help.subcommandTerm(c), description: c.description() }]));
    assert.deepEqual(file.commands, defined, `the listing in src/cli/commands/index.ts differs from what ${Object.keys(defined).join(', ')} define`);
  }
  const eager = await buildProgram();
  const lazy = await buildProgram(['node', 'v2l', '--help']);
  assert.equal(lazy.helpInformation(), eager.helpInformation());
  assert.ok(lazy.commands.every((c) => c.options.length === 0), 'no command file loaded for --help');
});

test('a command line loads only the file of its command (also after `help` and global options)', async () => {
  assert.equal(commandNamed(['node', 'v2l', '--backend', 'wasm', 'tokenize', 'x.jpg']), 'tokenize');
  assert.equal(commandNamed(['node', 'v2l', 'help', 'fewshot']), 'fewshot');
  assert.equal(commandNamed(['node', 'v2l', '--help']), null);
  assert.equal(commandNamed(['node', 'v2l', '-V']), null);
  const p = await buildProgram(['node', 'v2l', 'reconstruct', 'x.jpg']);
  const loaded = p.commands.filter((c) => c.options.length > 0).map((c) => c.name()).sort();
  assert.deepEqual(loaded, ['import-official', 'reconstruct', 'tokenize'], 'the one file holding reconstruct');
  // The command's own help and an unknown command behave as with every file loaded.
  const run = (...a: string[]) => spawnSync(process.execPath, ['--import', 'tsx', '-e',
    `import(${JSON.stringify(new URL('./main.ts', import.meta.url).href)}).then((m) => m.main(['node', 'v2l', ...process.argv.slice(1)])).catch((e) => { console.error('v2l: ' + e.message); process.exit(1); });`, ...a], { encoding: 'utf8' });
  const tokHelp = run('help', 'tokenize');
  assert.equal(tokHelp.status, 0, tokHelp.stderr);
  assert.match(tokHelp.stdout, /Usage: v2l tokenize \[options\] <images\.\.\.>[\s\S]*--checkpoint <file>/);
  const unknown = run('tokenise');
  assert.notEqual(unknown.status, 0);
  assert.match(unknown.stderr, /unknown command 'tokenise'[\s\S]*Did you mean tokenize\?/);
});
