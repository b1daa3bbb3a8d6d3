// `v2l eval fewshot` writes Table 1's files from the few-shot table of src/tasks/fewshot (not a second
// implementation): markdown from their renderer, the Avg columns charted, stand-in notes make a banner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PAPER_ROWS, TABLE1_SETTINGS } from '../tasks/fewshot/table.js';
import { writeFewshotOutputs, fewshotMeaningless, type FewshotTableJson } from './fewshot-table.js';

test('Table 1 files: json, markdown with the paper rows, chart; stand-in notes flagged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-eval-fs-'));
  const cells = [2, 5].flatMap((ways) => TABLE1_SETTINGS.map((setting) => ({ ways, setting, accuracy: 50, ci95: [40, 60] as [number, number], episodes: 10, failed: 0 })));
  const t: FewshotTableJson = {
    rows: [{ method: 'v2l (test)', globalTokens: 5, cells, avg: { 2: 50, 5: 50 } }], paper: PAPER_ROWS, ways: [2, 5],
    notes: ['MEANINGLESS figures: the global tokens come from a stand-in CLIP'],
  };
  assert.equal(fewshotMeaningless(t), true);
  assert.equal(fewshotMeaningless({ ...t, notes: [] }), false);
  await writeFewshotOutputs(dir, t);
  const md = readFileSync(join(dir, 'table1.md'), 'utf8');
  assert.match(md, /MEANINGLESS/);
  assert.match(md, /V2L paper \(LLaMA-2 70B\)/);
  assert.match(md, /83\.9/);
  assert.ok(existsSync(join(dir, 'table1.png')));
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'table1.json'), 'utf8')).ways, [2, 5]);
  rmSync(dir, { recursive: true, force: true });
});
