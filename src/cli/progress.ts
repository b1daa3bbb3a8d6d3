// Showing progress on the command line: a bar with rate and ETA on a terminal, plain periodic lines when
// stderr is not a TTY (CI logs), nothing when silenced. Library code only calls an `onProgress` callback
// (../util/progress.ts); the commands turn it into one of these.
import cliProgress from 'cli-progress';
import type { ProgressReporter } from '../util/progress.js';

function fmtInfo(info?: Record<string, number | string>): string {
  if (!info) return '';
  return Object.entries(info)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4).replace(/\.?0+$/, '')) : v}`)
    .join(' ');
}

export function createProgress(opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): ProgressReporter {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet) return { update() {}, stop() {} };
  if (!stream.isTTY) {
    let lastStage = '';
    let lastT = 0;
    const t0 = Date.now();
    return {
      update(e) {
        const now = Date.now();
        if (e.stage !== lastStage || now - lastT > 5000 || e.done === e.total) {
          const el = (now - t0) / 1000;
          stream.write(`[${e.stage}] ${e.done}/${e.total} ${el.toFixed(1)}s ${fmtInfo(e.info)}\n`);
          lastStage = e.stage;
          lastT = now;
        }
      },
      stop() {},
    };
  }
  let bar: cliProgress.SingleBar | null = null;
  let stage = '';
  return {
    update(e) {
      if (!bar || e.stage !== stage) {
        bar?.stop();
        stage = e.stage;
        bar = new cliProgress.SingleBar(
          { format: `${e.stage} [{bar}] {value}/{total} {percentage}% | {rate}/s | ETA {eta_formatted} {info}`, stream, hideCursor: true, etaBuffer: 50 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(e.total, e.done, { info: '', rate: '0' });
        (bar as unknown as { t0: number }).t0 = Date.now();
      }
      const t0 = (bar as unknown as { t0: number }).t0;
      const rate = e.done / Math.max(1e-3, (Date.now() - t0) / 1000);
      bar.setTotal(e.total);
      bar.update(e.done, { info: fmtInfo(e.info), rate: rate.toFixed(1) });
    },
    stop() {
      bar?.stop();
      bar = null;
    },
  };
}
