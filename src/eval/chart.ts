// "Ours vs the paper" bar charts as PNG, without a plotting library: SVG (one panel per metric, each with
// its own scale, bars labelled with their values) rasterised by sharp. When stand-in networks produced
// our numbers, a red banner says that they are meaningless. Node edge (sharp).
import { sharp as loadSharp } from '../image/sharp.js';
import { writeFileAtomic } from '../util/atomic.js';

export interface ChartPanel {
  metric: string;
  /** e.g. "lower is better". */
  note?: string;
  /** Decimals of the value labels (default: by magnitude). */
  digits?: number;
  bars: { label: string; value: number; ours?: boolean }[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(4);
}

export function barChartSvg(title: string, panels: readonly ChartPanel[], warning?: string, panelWidth = 300): string {
  const pw = panelWidth;
  const ph = 300;
  const top = warning ? 84 : 50;
  const width = Math.max(1, panels.length) * pw + 20;
  const height = top + ph + 20;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="28" font-size="17" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
  ];
  if (warning) {
    parts.push(`<rect x="10" y="40" width="${width - 20}" height="30" fill="#fde2e2" stroke="#c0392b"/>`);
    parts.push(`<text x="${width / 2}" y="60" font-size="13" text-anchor="middle" fill="#c0392b" font-weight="bold">${esc(warning)}</text>`);
  }
  panels.forEach((p, pi) => {
    const x0 = 10 + pi * pw;
    const plotTop = top + 56;
    const plotH = ph - 130;
    const finite = p.bars.map((b) => b.value).filter(Number.isFinite);
    // A zero line with bars up for positive and down for negative values, to scale together.
    const hi = Math.max(0, ...finite);
    const lo = Math.min(0, ...finite);
    const span = Math.max(1e-12, hi - lo);
    parts.push(`<text x="${x0 + pw / 2}" y="${top + 16}" font-size="14" text-anchor="middle" font-weight="bold">${esc(p.metric)}</text>`);
    if (p.note) parts.push(`<text x="${x0 + pw / 2}" y="${top + 32}" font-size="11" text-anchor="middle" fill="#555">${esc(p.note)}</text>`);
    const n = p.bars.length;
    const slot = (pw - 40) / Math.max(1, n);
    const bw = Math.min(50, slot * 0.7);
    const zero = plotTop + (hi / span) * plotH;
    const bottom = plotTop + plotH;
    parts.push(`<line x1="${x0 + 15}" y1="${zero}" x2="${x0 + pw - 15}" y2="${zero}" stroke="#333"/>`);
    p.bars.forEach((b, i) => {
      const cx = x0 + 20 + slot * (i + 0.5);
      const h = Number.isFinite(b.value) ? (Math.abs(b.value) / span) * plotH : 0;
      const y = b.value >= 0 ? zero - h : zero;
      const colour = b.ours ? '#d62728' : '#1f77b4';
      const label = p.digits !== undefined && Number.isFinite(b.value) ? b.value.toFixed(p.digits) : fmt(b.value);
      parts.push(`<rect x="${cx - bw / 2}" y="${y}" width="${bw}" height="${h}" fill="${colour}"/>`);
      parts.push(`<text x="${cx}" y="${b.value >= 0 || !Number.isFinite(b.value) ? zero - h - 4 : zero + h + 12}" font-size="11" text-anchor="middle">${label}</text>`);
      // Labels rotated under the plot.
      parts.push(`<text transform="translate(${cx + 4},${bottom + (lo < 0 ? 18 : 10)}) rotate(35)" font-size="10" fill="${b.ours ? '#d62728' : '#222'}">${esc(b.label)}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export async function writeBarChart(path: string, title: string, panels: readonly ChartPanel[], warning?: string, panelWidth?: number): Promise<void> {
  const sharp = await loadSharp(); // loaded on first use: `v2l --help` stays fast
  const png = await sharp(Buffer.from(barChartSvg(title, panels, warning, panelWidth))).flatten({ background: '#ffffff' }).png().toBuffer();
  writeFileAtomic(path, png);
}

/** A markdown table from a header and rows of cells. */
export function markdownTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cell = (v: string | number): string => (typeof v === 'number' ? fmt(v) : v);
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}
