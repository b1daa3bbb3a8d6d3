// Loss curves as a PNG, without a plotting library: the chart is written as SVG (axes, ticks, polylines,
// legend) and rasterised by sharp. Panels: the reconstruction losses (linear, validation points marked),
// every loss term (log scale), the learning rate. Noisy per-step series get a running mean on top.
import { sharp as loadSharp } from '../image/sharp.js';
import type { MetricsRecord } from './metrics.js';
import { writeFileAtomic } from '../util/atomic.js';

const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** Series drawn on the loss panel, in this order, when present. */
export const LOSS_KEYS = ['loss', 'rec_loss', 'vq_loss', 'p_loss', 'g_loss', 'd_loss', 'val_rec_loss'];

/** Codebook-use series (distinct codes over the validation images, their perplexity, distinct codes per training batch). */
export const CODE_KEYS = ['val_local_tokens_used', 'val_perplexity', 'codes_used'];
/** PSNR series: the model's, and the collapsed model's (every image decoded to the mean training image). */
export const PSNR_KEYS = ['val_psnr', 'val_psnr_collapsed'];

interface Series {
  key: string;
  points: [number, number][];
}

function collect(records: readonly MetricsRecord[], keys: readonly string[], positiveOnly: boolean): Series[] {
  const out: Series[] = [];
  for (const key of keys) {
    const points: [number, number][] = [];
    for (const r of records) {
      const v = r[key];
      if (typeof v === 'number' && Number.isFinite(v) && (!positiveOnly || v > 0)) points.push([r.step, v]);
    }
    if (points.length) out.push({ key, points });
  }
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-2 ? v.toExponential(1) : Number(v.toPrecision(3)).toString();
}

interface Panel {
  x: number; y: number; w: number; h: number;
  title: string;
  series: Series[];
  log: boolean;
  xMin: number; xMax: number;
}

function panelSvg(p: Panel): string {
  const parts: string[] = [];
  const all = p.series.flatMap((s) => s.points.map(([, v]) => v));
  parts.push(`<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" fill="white" stroke="#333"/>`);
  parts.push(`<text x="${p.x + p.w / 2}" y="${p.y - 8}" text-anchor="middle" font-size="14" font-family="sans-serif">${esc(p.title)}</text>`);
  if (!all.length) {
    parts.push(`<text x="${p.x + p.w / 2}" y="${p.y + p.h / 2}" text-anchor="middle" font-size="13" font-family="sans-serif" fill="#666">no data</text>`);
    return parts.join('');
  }
  const tr = (v: number) => (p.log ? Math.log10(v) : v);
  let lo = Math.min(...all.map(tr));
  let hi = Math.max(...all.map(tr));
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const pad = (hi - lo) * 0.05;
  const nonNegative = !p.log && all.every((v) => v >= 0);
  lo = nonNegative ? Math.max(0, lo - pad) : lo - pad;
  hi += pad;
  const xs = (s: number) => p.x + ((s - p.xMin) / Math.max(1e-9, p.xMax - p.xMin)) * p.w;
  const ys = (v: number) => p.y + p.h - ((tr(v) - lo) / (hi - lo)) * p.h;
  // y ticks
  const ticks: number[] = [];
  if (p.log) {
    // 1-2-5 ticks over a few decades, powers of ten over many.
    const mantissas = hi - lo > 3 ? [1] : [1, 2, 5];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) for (const m of mantissas) { const t = Math.log10(m) + e; if (t >= lo && t <= hi) ticks.push(10 ** t); }
  } else {
    for (let i = 0; i <= 4; i++) ticks.push(lo + ((hi - lo) * i) / 4);
  }
  for (const t of ticks) {
    const y = ys(t);
    parts.push(`<line x1="${p.x}" x2="${p.x + p.w}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${p.x - 6}" y="${y + 4}" text-anchor="end" font-size="11" font-family="sans-serif">${fmt(t)}</text>`);
  }
  for (let i = 0; i <= 5; i++) {
    const s = p.xMin + ((p.xMax - p.xMin) * i) / 5;
    const x = xs(s);
    parts.push(`<line x1="${x}" x2="${x}" y1="${p.y + p.h}" y2="${p.y + p.h + 4}" stroke="#333"/>`);
    parts.push(`<text x="${x}" y="${p.y + p.h + 17}" text-anchor="middle" font-size="11" font-family="sans-serif">${Math.round(s)}</text>`);
  }
  const line = (pts: [number, number][], colour: string, extra: string) =>
    `<polyline points="${pts.map(([st, v]) => `${xs(st).toFixed(1)},${ys(v).toFixed(1)}`).join(' ')}" fill="none" stroke="${colour}" ${extra}/>`;
  const colourOf = (s: Series, i: number) => COLOURS[(LOSS_KEYS.indexOf(s.key) >= 0 ? LOSS_KEYS.indexOf(s.key) : i) % COLOURS.length];
  p.series.forEach((s, i) => {
    const colour = colourOf(s, i);
    const noisy = !s.key.startsWith('val_') && s.key !== 'lr' && s.points.length >= 30;
    if (noisy) {
      // Per-step values faintly, their running mean (a window of ~1/30 of the run) on top.
      parts.push(line(s.points, colour, 'stroke-width="1" stroke-opacity="0.3"'));
      parts.push(line(runningMean(s.points, Math.max(3, Math.round(s.points.length / 30)), p.log), colour, 'stroke-width="2"'));
    } else {
      parts.push(line(s.points, colour, 'stroke-width="1.5"'));
    }
    if (s.key.startsWith('val_') || s.points.length < 30) {
      for (const [st, v] of s.points) parts.push(`<circle cx="${xs(st).toFixed(1)}" cy="${ys(v).toFixed(1)}" r="3" fill="${colour}"/>`);
    }
  });
  // Legend in a box, last values, above the curves.
  const lw = 170;
  parts.push(`<rect x="${p.x + p.w - lw - 8}" y="${p.y + 6}" width="${lw}" height="${p.series.length * 16 + 8}" fill="white" fill-opacity="0.85" stroke="#999"/>`);
  p.series.forEach((s, i) => {
    const colour = colourOf(s, i);
    const ly = p.y + 22 + i * 16;
    parts.push(`<line x1="${p.x + p.w - lw}" x2="${p.x + p.w - lw + 20}" y1="${ly - 4}" y2="${ly - 4}" stroke="${colour}" stroke-width="3"/>`);
    const last = s.points[s.points.length - 1][1];
    parts.push(`<text x="${p.x + p.w - lw + 26}" y="${ly}" font-size="11" font-family="sans-serif">${esc(s.key)} ${fmt(last)}</text>`);
  });
  return parts.join('');
}

/** Centred running mean over `window` points (geometric on log panels, so one spike does not dominate). */
function runningMean(points: [number, number][], window: number, geometric: boolean): [number, number][] {
  const f = geometric ? Math.log : (v: number) => v;
  const g = geometric ? Math.exp : (v: number) => v;
  const vals = points.map(([, v]) => f(v));
  const pre = [0];
  for (const v of vals) pre.push(pre[pre.length - 1] + v);
  const h = Math.floor(window / 2);
  return points.map(([st], i) => {
    const a = Math.max(0, i - h);
    const b = Math.min(points.length, i + h + 1);
    return [st, g((pre[b] - pre[a]) / (b - a))];
  });
}

/** The chart as an SVG document. */
export function lossCurvesSvg(records: readonly MetricsRecord[], title = 'v2l training'): string {
  const W = 900;
  const H = 1130;
  const steps = records.map((r) => r.step);
  const xMin = steps.length ? Math.min(...steps) : 0;
  const xMax = steps.length ? Math.max(...steps, xMin + 1) : 1;
  const w = W - 100;
  const rec = panelSvg({ x: 70, y: 40, w, h: 250, title: `${title}: reconstruction`, series: collect(records, ['rec_loss', 'val_rec_loss', 'p_loss'], true), log: false, xMin, xMax });
  const all = panelSvg({ x: 70, y: 330, w, h: 300, title: 'all loss terms (log scale)', series: collect(records, LOSS_KEYS, true), log: true, xMin, xMax });
  const lr = panelSvg({ x: 70, y: 670, w, h: 130, title: 'learning rate', series: collect(records, ['lr'], false), log: false, xMin, xMax });
  // Codebook use (a collapse shows as these falling to a handful) and PSNR against the collapsed model's.
  const hw = (w - 70) / 2;
  const codes = panelSvg({ x: 70, y: 840, w: hw, h: 220, title: 'local tokens in use', series: collect(records, CODE_KEYS, false), log: false, xMin, xMax });
  const psnr = panelSvg({ x: 70 + hw + 70, y: 840, w: hw, h: 220, title: 'validation PSNR (dB)', series: collect(records, PSNR_KEYS, false), log: false, xMin, xMax });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="${W}" height="${H}" fill="white"/>${rec}${all}${lr}${codes}${psnr}` +
    `<text x="${70 + w / 2}" y="${H - 14}" text-anchor="middle" font-size="12" font-family="sans-serif">step</text></svg>`;
}

/** Draws the loss curves of `records` into a PNG at `path` (atomic). */
export async function plotLossCurves(records: readonly MetricsRecord[], path: string, title?: string): Promise<void> {
  const sharp = await loadSharp(); // loaded on first use, not at import
  const png = await sharp(Buffer.from(lossCurvesSvg(records, title))).flatten({ background: '#ffffff' }).png().toBuffer();
  writeFileAtomic(path, png);
}
