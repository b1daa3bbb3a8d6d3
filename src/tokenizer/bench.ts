// `npm run bench -- tokenize [--batch 8] [--size 128] [--reps 3] [--local-rows 32000] [--int8 both|on|off] [--threads N] [--clip DIR] [--peak GFLOPS] [--quick]`
// Tokenizer throughput with the paper's network and codebook sizes (ch 128, ch_mult [1,2,2,4], z 256,
// embed 768; a 32,000-row local and an 11,908-row global codebook), random weights, on the onnxruntime
// engine, rounds after a warm-up:
//   encode = encoder + quant_conv + L2 norm + local quantization + global quantization (CLIP excluded:
//            the global quantizer gets a ready image embedding, as CLIP is a separate frozen model);
//   decode = local token ids -> projected codebook rows -> post_quant_conv -> decoder (cross-attention).
// The local codebook search is also timed alone. Each row gives images/s and the achieved GFLOP/s
// (./network/flops.ts) beside the machine's estimated peak, and how many rows the search re-ranked in full.
// The local search runs in float32 ('f32') and, where the codebook is large enough (INT8_MIN_ROWS) or
// `--int8 on`, with the int8 first pass ('int8'): both engines in one run, rounds interleaved, their ids
// compared; `--int8 on|off` opens only one (for the peak RSS of each, printed at the end).
// With `--clip DIR` (e.g. the ViT-L/14-shaped stand-in: `v2l models stand-in-clip DIR --preset vit-l-14`)
// CLIP's image embeddings of the batch (256 px pictures; preprocessing included) are timed as well, and
// encode including CLIP is reported apart from the network alone.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { paperConfig, downFactor } from '../network/config.js';
import { NetworkParams } from '../network/network-params.js';
import { randn, SeededRng } from '../util/random.js';
import { decoderFlops, encoderFlops, searchFlops } from '../network/flops.js';
import { createOnnxEngine } from './onnx-node.js';
import type { OnnxEngine } from './onnx-engine.js';
import { loadClip } from '../models/clip/transformers-clip.js';
import type { RawImage } from '../image/types.js';
import { argNumber as arg } from '../util/bench-args.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Peak float32 GFLOP/s estimate: cores x clock x FLOP per cycle (AVX-512: two 16-wide FMA units = 64;
 * AVX2/FMA: 32; else 8). The clock is /proc/cpuinfo's current one, so turbo can exceed it.
 */
export function estimatedPeak(): { gflops: number; how: string } {
  const cores = availableParallelism();
  let mhz = 0;
  let perCycle = 8;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    mhz = Number(/cpu MHz\s*:\s*([\d.]+)/.exec(info)?.[1] ?? 0);
    perCycle = /\bavx512f\b/.test(info) ? 64 : /\bfma\b/.test(info) ? 32 : 8;
  } catch {
    // not Linux: no estimate
  }
  if (!mhz) return { gflops: NaN, how: 'unknown (pass --peak)' };
  return { gflops: (cores * mhz * perCycle) / 1000, how: `${cores} cores x ${(mhz / 1000).toFixed(2)} GHz x ${perCycle} FLOP/cycle` };
}

export async function benchTokenize(args: string[] = []): Promise<void> {
  const quick = args.includes('--quick');
  const batch = arg(args, '--batch', quick ? 2 : 8);
  const size = arg(args, '--size', quick ? 64 : 128);
  const reps = arg(args, '--reps', quick ? 1 : 3);
  const threads = arg(args, '--threads', availableParallelism());
  const ei = args.indexOf('--engine');
  if (ei >= 0 && args[ei + 1] !== 'onnx') throw new Error(`--engine: the tokenizer runs on onnxruntime only (onnx), got "${args[ei + 1]}"`);
  const peak = args.includes('--peak') ? { gflops: arg(args, '--peak', 1), how: '--peak' } : estimatedPeak();
  // --local-rows: the local codebook's size (LLaMA-3's vocabulary: 128256), to see how the search grows.
  const config = { ...paperConfig(), nLocal: arg(args, '--local-rows', paperConfig().nLocal) };
  const k = 5;
  console.log(`tokenize benchmark: paper network, ${size} px, batch ${batch}, local codebook ${config.nLocal} rows, global ${config.nGlobal} rows, ` +
    `${reps} rounds after a warm-up (median); ` +
    `onnxruntime-node CPU, ${threads} intra-op threads; load average before: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  let t0 = performance.now();
  const sd = new NetworkParams(config, { seed: 1 }).stateDict();
  console.log(`built random-weight network in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  t0 = performance.now();
  const ii = args.indexOf('--int8');
  const int8Arg = ii >= 0 ? args[ii + 1] : 'both';
  if (!['both', 'on', 'off'].includes(int8Arg)) throw new Error(`--int8 must be both, on or off (got "${int8Arg}")`);
  const cacheDir = mkdtempSync(join(tmpdir(), 'v2l-bench-onnx-')); // the second engine reads the first one's export
  const engines: { name: string; engine: OnnxEngine }[] = [];
  try {
    if (int8Arg !== 'on') engines.push({ name: 'f32', engine: await createOnnxEngine(config, sd, { threads, cacheDir, int8: false }) });
    const int8 = int8Arg === 'off' ? null : await createOnnxEngine(config, sd, { threads, cacheDir, int8: int8Arg === 'on' ? true : undefined });
    if (int8?.localSearch.usesInt8) engines.push({ name: 'int8', engine: int8 });
    else await int8?.dispose();
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
  const engine = engines[0].engine;
  console.log(`exported to ONNX and opened the onnxruntime sessions (${engines.map((e) => e.name).join(', ')}) in ${((performance.now() - t0) / 1000).toFixed(1)} s; RSS ${(process.memoryUsage().rss / 2 ** 30).toFixed(2)} GB`);
  const ci = args.indexOf('--clip');
  const clipModel = ci >= 0 ? await loadClip(args[ci + 1], { towers: { vision: true, text: false }, threads }) : null;
  if (clipModel) console.log(`CLIP: ${clipModel.id}${clipModel.isStandIn ? ': a STAND-IN, random weights' : ''}`);
  const pictures: RawImage[] = Array.from({ length: batch }, (_, b) => ({
    width: 256, height: 256, channels: 3, data: Uint8Array.from({ length: 256 * 256 * 3 }, (_, i) => (i * 7 + b * 13 + (i >> 9)) & 255),
  }));

  const u = new SeededRng(7);
  const imagesHost = Float32Array.from({ length: batch * 3 * size * size }, () => 2 * u.uniform() - 1);
  const clipHost = randn(batch * config.embedDim, 8);
  const h = size / downFactor(config);
  const m = batch * h * h;
  // The engine's own z, ids and global embeddings: the search and the decoder are timed on them.
  const first = await engine.encode(imagesHost, batch, size, size);
  const zHost = first.z;
  const refIds = first.localIds;
  const gEmbHost = engine.globalEmbeddings(await engine.globalTokens(clipHost, batch, k));

  // Wall seconds, and the process's CPU seconds (all threads): under other load, FLOP per CPU-second
  // says what the engine does with the time it gets (onnxruntime's spinning threads count too).
  const cpuSeconds = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  let lastCpu = 0;
  const asyncTime = async (f: () => Promise<unknown>) => {
    const s = performance.now();
    const c = cpuSeconds();
    await f();
    lastCpu = cpuSeconds() - c;
    return (performance.now() - s) / 1000;
  };
  type Row = 'encode' | 'search' | 'decode';
  const times: Record<string, number[]> = {};
  const put = (key: string, s: number) => (times[key] ??= []).push(s);
  let mismatches = 0;
  for (let round = 0; round <= reps; round++) {
    const record = (key: string, s: number) => {
      if (round === 0) return; // round 0 warms up
      put(key, s);
      put(`${key} cpu`, lastCpu);
    };
    if (clipModel) record('clip embed', await asyncTime(() => clipModel.embedImages(pictures)));
    for (const { name, engine: e } of engines) {
      let ids: Int32Array | null = null;
      record(`${name} encode`, await asyncTime(async () => {
        ids = (await e.encode(imagesHost, batch, size, size)).localIds;
        await e.globalTokens(clipHost, batch, k);
      }));
      for (let i = 0; i < m; i++) if (ids![i] !== refIds[i]) mismatches++;
      record(`${name} search`, await asyncTime(async () => {
        await e.nearestLocal(zHost, m);
        await e.globalTokens(clipHost, batch, k);
      }));
      record(`${name} decode`, await asyncTime(() => e.decode(refIds, batch, h, h, gEmbHost, k)));
    }
  }
  const fullScans = engine.localSearch.fullScans;
  const int8Search = engines.find((e) => e.name === 'int8')?.engine.localSearch;
  await Promise.all(engines.map((e) => e.engine.dispose()));
  await clipModel?.dispose();

  const flops: Record<Row, number> = {
    encode: encoderFlops(config, size) + searchFlops(config, size) + 2 * config.nGlobal * config.embedDim,
    search: searchFlops(config, size) + 2 * config.nGlobal * config.embedDim,
    decode: decoderFlops(config, size, k),
  };
  const label: Record<Row, string> = {
    encode: 'encode (encoder + local + global quantization)',
    search: `  of which codebook search (local ${(config.nLocal / 1000).toFixed(1)}k + global ${(config.nGlobal / 1000).toFixed(1)}k)`,
    decode: 'decode (ids -> image)',
  };
  const json: Record<string, unknown> = { bench: 'tokenize', size, batch, threads, peak_gflops: peak.gflops, load_average_after: loadavg()[0] };
  console.log(`${'row'.padEnd(58)} ${'engine'.padEnd(6)} ${'ms/batch'.padStart(9)} ${'images/s'.padStart(9)} ${'GFLOP/s'.padStart(8)} ${'% peak'.padStart(7)} ${'CPU-s'.padStart(7)} ${'GFLOP/CPU-s'.padStart(12)}`);
  for (const row of ['encode', 'search', 'decode'] as Row[]) {
    const perImage = flops[row];
    const med: Record<string, number> = {};
    for (const { name: eng } of engines) {
      const ts = times[`${eng} ${row}`];
      if (!ts) continue;
      const s = median(ts);
      med[eng] = s;
      const gf = (perImage * batch) / s / 1e9;
      const cpu = median(times[`${eng} ${row} cpu`]);
      const gfCpu = (perImage * batch) / cpu / 1e9;
      console.log(`${label[row].padEnd(58)} ${eng.padEnd(6)} ${(s * 1000).toFixed(0).padStart(9)} ${(batch / s).toFixed(2).padStart(9)} ${gf.toFixed(0).padStart(8)} ${((100 * gf) / peak.gflops).toFixed(0).padStart(6)}% ${cpu.toFixed(1).padStart(7)} ${gfCpu.toFixed(0).padStart(12)}`);
      json[`${eng}_${row}_gflops_per_cpu_s`] = gfCpu;
      json[`${eng}_${row}_images_per_s`] = batch / s;
      json[`${eng}_${row}_gflops`] = gf;
    }
    if (med.f32 && med.int8) {
      const cpu = (e: string) => median(times[`${e} ${row} cpu`]);
      console.log(`${''.padEnd(58)} int8/f32 speed-up ${(med.f32 / med.int8).toFixed(2)}x (CPU time ${(cpu('f32') / cpu('int8')).toFixed(2)}x)`);
      json[`${row}_int8_speedup`] = med.f32 / med.int8;
      json[`${row}_int8_cpu_speedup`] = cpu('f32') / cpu('int8');
    }
  }
  if (clipModel) {
    const c = median(times['clip embed']);
    console.log(`${`CLIP image embeddings (${clipModel.id})`.padEnd(58)} ${'onnx'.padEnd(6)} ${(c * 1000).toFixed(0).padStart(9)} ${(batch / c).toFixed(2).padStart(9)}`);
    json.clip_images_per_s = batch / c;
    for (const { name: eng } of engines) {
      const ts = times[`${eng} encode`];
      if (!ts) continue;
      const s = median(ts) + c;
      console.log(`${'encode including CLIP'.padEnd(58)} ${eng.padEnd(6)} ${(s * 1000).toFixed(0).padStart(9)} ${(batch / s).toFixed(2).padStart(9)}`);
      json[`${eng}_encode_with_clip_images_per_s`] = batch / s;
    }
  }
  console.log(`GFLOP per image: encode ${(flops.encode / 1e9).toFixed(1)} (search ${(flops.search / 1e9).toFixed(1)}), decode ${(flops.decode / 1e9).toFixed(1)}; ` +
    `peak ${peak.gflops.toFixed(0)} GFLOP/s (${peak.how}); load average after: ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`local search: rows re-ranked in full ${fullScans} of ${m * (reps + 2)}` +
    (int8Search ? `; int8 first pass: ${int8Search.int8Fallbacks} of ${int8Search.int8Rows} rows not separated by its bound (searched in float32), ` +
      `local ids differing from the first engine's: ${mismatches}` : ''));
  json.full_scans = fullScans;
  if (int8Search) Object.assign(json, { int8_fallbacks: int8Search.int8Fallbacks, int8_rows: int8Search.int8Rows, local_id_mismatches: mismatches });
  const maxRss = process.resourceUsage().maxRSS * 1024;
  console.log(`peak RSS ${(maxRss / 2 ** 30).toFixed(2)} GB (${engines.map((e) => e.name).join(' + ')} engine${engines.length > 1 ? 's' : ''})`);
  json.peak_rss_bytes = maxRss;
  console.log(JSON.stringify(json));
}
