// `v2l models pull|list|stand-in-clip`: named model presets in the local cache, and the stand-in CLIP.
import type { Command } from 'commander';
import { PRESETS, pullPreset, listCached, cacheRoot, formatBytes } from '../../models/hub.js';
import { STAND_IN_PRESETS, writeStandInClip, type StandInOptions } from '../../models/clip/stand-in.js';
import { createProgress } from '../progress.js';

function int(name: string, min: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got "${v}")`);
    return n;
  };
}

export function register(program: Command): void {
  const models = program.command('models').description('model presets in the local cache (V2L_CACHE or ~/.cache/v2l), and the stand-in CLIP');

  models
    .command('pull <preset>')
    .description(`download a preset from the Hugging Face hub into the cache (resumable); presets: ${PRESETS.map((p) => p.name).join(', ')}`)
    .option('--cache <dir>', 'cache root (default: V2L_CACHE or ~/.cache/v2l)')
    .option('--endpoint <url>', 'hub endpoint or mirror (default: HF_ENDPOINT or https://huggingface.co)')
    .option('--timeout <ms>', 'connect and stall timeout', int('timeout', 1), 8000)
    .option('--quiet', 'no progress')
    .action(async (name: string, f: { cache?: string; endpoint?: string; timeout: number; quiet?: boolean }) => {
      const progress = createProgress({ quiet: f.quiet });
      try {
        const r = await pullPreset(name, { cacheDir: f.cache, endpoint: f.endpoint, timeoutMs: f.timeout, onProgress: (e) => progress.update(e) });
        progress.stop();
        console.log(`${name}: ${r.dir} (${formatBytes(r.bytes)} downloaded${r.skipped.length ? `, ${r.skipped.length} file(s) already there` : ''})`);
        if (r.unverified.length) console.error(`v2l: note: ${r.unverified.join(', ')} could not be checked against the server (unreachable): sizes and sha256 recorded as found`);
      } finally {
        progress.stop();
      }
    });

  models
    .command('list')
    .description('show the cached models with their sizes, and the presets')
    .option('--cache <dir>', 'cache root (default: V2L_CACHE or ~/.cache/v2l)')
    .option('--json', 'machine-readable output')
    .action((f: { cache?: string; json?: boolean }) => {
      const cached = listCached(f.cache);
      if (f.json) {
        console.log(JSON.stringify({ cache: cacheRoot(f.cache), cached: cached.map((c) => ({ ...c, preset: c.preset?.name ?? null })), presets: PRESETS }, null, 2));
        return;
      }
      console.log(`cache: ${cacheRoot(f.cache)}/models`);
      if (!cached.length) console.log('  (empty)');
      for (const c of cached) {
        const state = c.complete ? 'complete' : `INCOMPLETE${c.partialBytes ? ` (${formatBytes(c.partialBytes)} partial; pull again to resume)` : ''}`;
        console.log(`  ${c.name.padEnd(26)} ${formatBytes(c.bytes).padStart(9)}  ${String(c.files).padStart(3)} files  ${state}`);
      }
      console.log('presets:');
      for (const p of PRESETS) {
        const have = cached.find((c) => c.name === p.name && c.complete) ? '*' : ' ';
        console.log(` ${have} ${p.name.padEnd(26)} ${p.repo}: ${p.description}`);
      }
    });

  models
    .command('stand-in-clip <dir>')
    .description('write a STAND-IN CLIP (small, random weights, real CLIP tokenizer) in the Hugging Face ONNX layout, for tests and demos')
    .option('--seed <n>', 'weight seed', int('seed', 0), 0)
    .option('--merges <file>', "CLIP's bpe_simple_vocab_16e6.txt.gz (default: V2L_CLIP_MERGES or ../shared/models/clip-tokenizer/)")
    .option('--hidden <n>', 'tower width', int('hidden', 8), 64)
    .option('--layers <n>', 'transformer layers per tower', int('layers', 1), 2)
    .option('--text-hidden <n>', 'text tower width (default: --hidden); local codebook rows span at most this many dimensions, so make it at least the codebook\'s rows for training to place every code (docs/training.md)', int('text-hidden', 8))
    .option('--preset <name>', `full-size shapes, random weights (${Object.keys(STAND_IN_PRESETS).join(', ')}; overrides --hidden/--layers), to measure real CLIP work`)
    .action((dir: string, f: StandInFlags) => {
      const t0 = performance.now();
      const preset = f.preset === undefined ? null : STAND_IN_PRESETS[f.preset];
      if (preset === undefined) throw new Error(`--preset must be one of ${Object.keys(STAND_IN_PRESETS).join(', ')} (got "${f.preset}")`);
      const r = writeStandInClip(dir, { seed: f.seed, mergesPath: f.merges, ...(preset ?? standInShapes(f)) });
      console.log(`STAND-IN CLIP written to ${r.dir} (${(r.parameters / 1e6).toFixed(2)}M random parameters, seed ${f.seed}, ${((performance.now() - t0) / 1000).toFixed(1)} s): ` +
        'real CLIP tokenizer and preprocessing, random weights: its embeddings carry no meaning.');
    });
}

interface StandInFlags { seed: number; merges?: string; hidden: number; layers: number; textHidden?: number; preset?: string }

/**
 * The stand-in's tower shapes from the flags: both towers --hidden wide, the text tower --text-hidden wide when
 * given (heads of 64 channels where the width allows, as CLIP's, else 4).
 */
export function standInShapes(f: Pick<StandInFlags, 'hidden' | 'layers' | 'textHidden'>): StandInOptions {
  if (f.textHidden === undefined || f.textHidden === f.hidden) return { hidden: f.hidden, layers: f.layers };
  const heads = f.textHidden % 64 === 0 ? f.textHidden / 64 : 4;
  return { hidden: f.hidden, layers: f.layers, text: { hidden: f.textHidden, layers: f.layers, heads } };
}
