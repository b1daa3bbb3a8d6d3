// Every resumable task command killed with SIGKILL at a random point (seeded draw of after how many
// records, plus a delay into the next unit) and run again ends with the records of an uninterrupted run:
// `v2l lora-data`, `v2l restore --task masked`, `v2l caption`. (`fewshot`, `vqa`, `restore` and
// `codebook build` have their own kill tests beside their other checks; evaluations resume from their
// state, src/eval/reconstruction.test.ts; training bit for bit, src/train/trainer.test.ts.)
import { test } from 'node:test';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { taskFixture } from './test-utils/fixtures.js';
import { killAndResume } from '../util/test-utils/kill-resume.js';
import { SeededRng } from '../util/random.js';
import { sharedPath, skipUnless } from '../util/test-utils/shared.js';

const STORIES = sharedPath('models/stories260K/stories260K.gguf');
const IMAGES = sharedPath('data/coco-captions/images');
const COCO = sharedPath('data/coco-captions/captions.json');
const skip = skipUnless([STORIES, IMAGES, COCO], 'stories260K and the COCO images and captions');
const MAIN = new URL('../cli/main.ts', import.meta.url).href;
const RUNNER = `import(${JSON.stringify(MAIN)}).then((m) => m.main(['node', 'v2l', ...process.argv.slice(1)])).catch((e) => { console.error('v2l: ' + e.message); process.exit(1); });`;
const cwd = new URL('../../', import.meta.url).pathname;
const node = (args: string[]) => ['--import', 'tsx', '-e', RUNNER, ...args];

test('kill -9 at a random point, then the same command: lora-data, masked restoration and captioning end as an uninterrupted run', { skip, timeout: 900_000 }, async (t) => {
  const fx = await taskFixture({ llm: 'stories260K', grid: 8 });
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-kill-resume-'));
  const rng = new SeededRng(18);
  const random = () => rng.uniform();
  try {
    const images = readdirSync(IMAGES).sort().slice(0, 6).map((f) => join(IMAGES, f));
    const tok = ['--checkpoint', fx.checkpoint, '--codebook', fx.codebook, '--clip', fx.clip, '--llm', STORIES, '--cache-dir', join(tmp, 'cache'), '--quiet'];
    const runs: { name: string; units: number; argv: (out: string) => string[]; records?: (out: string) => string }[] = [
      { name: 'lora-data', units: 6, argv: (out) => node(['lora-data', '--images', IMAGES, '--limit', '6', ...tok, '--global-tokens', '3', '--out', out]) },
      {
        name: 'restore --task masked', units: 6, argv: (out) => node(['restore', '--task', 'masked', ...images, ...tok, '--global-tokens', '3', '--seed', '2', '-o', out]),
        records: (out) => join(out, 'masked.jsonl'),
      },
      { name: 'caption', units: 11, argv: (out) => node(['caption', '--examples', COCO, ...tok, '--shots', '1', '--global-tokens', '3', '--max-tokens', '12', '--out', out]) },
    ];
    for (const r of runs) {
      const dir = join(tmp, r.name.replace(/\W+/g, '-'));
      const ext = r.records ? '' : '.jsonl';
      const { recordsAtKill } = await killAndResume({ argv: r.argv, cwd, whole: join(dir, `whole${ext}`), killed: join(dir, `killed${ext}`), records: r.records, units: r.units, random });
      t.diagnostic(`${r.name}: killed with ${recordsAtKill} of ${r.units} records, resumed: equal`);
      assert.ok(recordsAtKill <= r.units);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
