import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { lossCurvesSvg, plotLossCurves } from './plot.js';

test('loss curves: an SVG with one line per present loss term and the lr panel, rasterised to PNG', async () => {
  const recs = [];
  for (let s = 1; s <= 50; s++) recs.push({ step: s, loss: 1 / s, rec_loss: 0.5 / s, vq_loss: 0.01, lr: 1e-3 * Math.min(1, s / 10) });
  recs.push({ step: 25, val_rec_loss: 0.03 });
  const svg = lossCurvesSvg(recs);
  // reconstruction panel: rec_loss (raw + mean), val_rec_loss; log panel: loss, rec_loss, vq_loss (raw +
  // mean each), val_rec_loss; lr panel: lr.
  assert.equal((svg.match(/<polyline/g) ?? []).length, 3 + 7 + 1);
  assert.match(svg, /val_rec_loss/);
  assert.doesNotMatch(svg, /g_loss/);
  const dir = mkdtempSync(join(tmpdir(), 'v2l-plot-'));
  try {
    const path = join(dir, 'c.png');
    await plotLossCurves(recs, path);
    const meta = await sharp(path).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 900);
    // The chart is not blank: its pixels vary.
    const st = await sharp(path).stats();
    assert.ok(st.channels[0].stdev > 5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
