// `v2l reproduce`: each table's command line in the paper's setting, with what is still missing named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reproducePlan, shellLine, PAPER_TABLES } from './reproduce.js';
import { buildProgram } from '../cli/main.js';

test('every table has a plan; missing inputs are named and shown as placeholders', () => {
  for (const t of PAPER_TABLES) {
    const p = reproducePlan(t, { official: '/o', clip: '/clip', out: '/out' });
    assert.equal(p.commands.length, 1);
    assert.equal(p.commands[0][0], 'eval');
    assert.ok(p.commands[0].includes('/o/tokenizer.safetensors'));
    assert.ok(p.missing.length > 0, t);
    assert.ok(p.downloads.length > 0 && p.estimate.length > 0);
  }
  const full = reproducePlan('table3', { official: '/o', clip: '/c', out: '/out', imagenetVal: '/val', inception: '/i.onnx', alexnet: '/a.pth', lpipsHeads: '/h.pth' });
  assert.deepEqual(full.missing, []);
  assert.equal(shellLine(full.commands[0]).startsWith('v2l eval reconstruction --checkpoint /o/tokenizer.safetensors'), true);
  assert.ok(full.commands[0].join(' ').includes('--lpips-protocol reference --image-size 256 --global-tokens 21'));
  assert.equal(shellLine(['a b', "it's"]), `v2l 'a b' 'it'\\''s'`);
});

test('the printed commands parse with the real CLI (every flag exists)', async () => {
  const plans = PAPER_TABLES.map((t) => reproducePlan(t, {
    official: '/o', clip: '/c', out: '/out', llm: '/l.gguf', imagenetVal: '/val', classNames: '/n.txt', splits: '/s', miniImagenet: '/m',
    inception: '/i.onnx', alexnet: '/a.pth', lpipsHeads: '/h.pth',
  }));
  for (const p of plans) {
    let argv = p.commands[0];
    const program = await buildProgram();
    let cmd = program.commands.find((c) => c.name() === 'eval')!.commands.find((c) => c.name() === argv[1])!;
    if (argv[1] === 'fewshot') {
      // The alias passes its flags on to `v2l fewshot --table`: check them there.
      argv = ['fewshot', '--table', ...argv.slice(2)];
      cmd = program.commands.find((c) => c.name() === 'fewshot')!;
    }
    cmd.action(() => {}); // parse only
    program.parse(argv, { from: 'user' });
  }
});
