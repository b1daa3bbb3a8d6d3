// Test fixture shared by the in-context task tests: a complete tokenizer made here, for a real LLM.
//
//   const fx = await taskFixture({ llm: 'llama2-vocab-random-tiny' });
//   // fx.checkpoint, fx.codebook, fx.clip: what `--checkpoint/--codebook/--clip` take; fx.llmPath: the GGUF
//
// - the network: a tiny random-weight V2L network whose local grid is 16x16 (32 px images, one
//   downsampling), so the tasks' token-space protocols (8x8 centre, bottom 8 rows, 277 = 21 + 256) apply;
// - a STAND-IN codebook package: random unit rows for every vocabulary entry of the LLM (so local ids are
//   that LLM's token ids and the vocabulary check passes) and 64 global entries whose texts are real
//   words of the vocabulary (so prompts carry real text); nothing in it is meaningful;
// - the STAND-IN CLIP (random weights).
// Built once per (llm, grid) under the OS temp dir and reused across test files (a marker file is written
// last, so a killed build is redone).
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetworkParams } from '../../network/network-params.js';
import type { V2LConfig } from '../../network/config.js';
import { writeSafetensors } from '../../io/files.js';
import { writeCodebook } from '../../codebook/package.js';
import { renderVocabulary } from '../../codebook/render.js';
import { readVocabulary } from '../../models/llm/gguf-vocabulary.js';
import { writeStandInClip } from '../../models/clip/stand-in.js';
import { loadClip } from '../../models/clip/transformers-clip.js';
import { sharedPath } from '../../util/test-utils/shared.js';

export const FIXTURE_LLMS = {
  'stories260K': sharedPath('models/stories260K/stories260K.gguf'),
  'llama2-vocab-random-tiny': sharedPath('models/llama2-vocab-random-tiny/llama2-vocab-random-tiny.gguf'),
  'llama3-vocab-random-tiny': sharedPath('models/llama3-vocab-random-tiny/llama3-vocab-random-tiny.gguf'),
} as const;
export type FixtureLLM = keyof typeof FIXTURE_LLMS;
export const CLIP_MERGES = sharedPath('models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz');

export interface TaskFixture {
  dir: string;
  checkpoint: string;
  codebook: string;
  clip: string;
  llmPath: string;
  imageSize: number;
  grid: number;
}

const EMBED = 64;
const N_GLOBAL = 64;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function unitRows(n: number, dim: number, seed: number): Float32Array {
  const r = lcg(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    for (let j = 0; j < dim; j++) {
      const v = r() - 0.5;
      out[i * dim + j] = v;
      ss += v * v;
    }
    const inv = 1 / Math.sqrt(ss);
    for (let j = 0; j < dim; j++) out[i * dim + j] *= inv;
  }
  return out;
}

/** The tiny network: `grid` x `grid` local tokens from `2 * grid` px images. */
export function fixtureConfig(nLocal: number, grid = 16): V2LConfig {
  return {
    ch: 32, chMult: [1, 2], numResBlocks: 1, resolution: 2 * grid, attnResolutions: [], inChannels: 3, outCh: 3,
    zChannels: 32, embedDim: EMBED, nLocal, nGlobal: N_GLOBAL, crossAttnHeads: 2, crossAttnDimHead: 16, discLayers: 1, discNdf: 16,
  };
}

export async function taskFixture(opts: { llm: FixtureLLM; grid?: number }): Promise<TaskFixture> {
  const grid = opts.grid ?? 16;
  const llmPath = FIXTURE_LLMS[opts.llm];
  const dir = join(tmpdir(), `v2l-task-fixture-${opts.llm}-g${grid}-v2`);
  const fx: TaskFixture = {
    dir, llmPath, grid, imageSize: 2 * grid,
    checkpoint: join(dir, 'tokenizer.safetensors'), codebook: join(dir, 'codebook'), clip: join(dir, 'clip'),
  };
  const done = join(dir, 'complete');
  if (existsSync(done)) return fx;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  const vocab = await readVocabulary(llmPath);
  const texts = renderVocabulary(vocab);
  // Global entries: real words of this vocabulary (whole-word pieces of 4+ letters: "▁word" in
  // SentencePiece vocabularies, "Ġword" in byte-level BPE ones), deterministic.
  const words: { text: string; ids: number[] }[] = [];
  for (let id = 0; id < vocab.size && words.length < N_GLOBAL; id += 1) {
    const raw = vocab.tokens[(id * 7919) % vocab.size];
    if (/^[▁Ġ][a-z]{3,}$/.test(raw)) words.push({ text: raw.slice(1), ids: [(id * 7919) % vocab.size] });
  }
  // A small vocabulary (stories260K) has few whole words: pair them up, as the expanded vocabulary's bigrams.
  const single = words.length;
  if (!single) throw new Error(`${llmPath}: no whole-word tokens to name the fixture's global entries`);
  for (let i = 0; words.length < N_GLOBAL; i++) {
    const a = words[i % single];
    const b = words[(i * 5 + 1) % single];
    words.push({ text: `${a.text} ${b.text}`, ids: [...a.ids, ...b.ids] });
  }
  writeStandInClip(fx.clip, { seed: 3, projectionDim: EMBED, layers: 1, mergesPath: CLIP_MERGES });
  const clip = await loadClip(fx.clip, { towers: { vision: true, text: false } });
  await clip.dispose();
  writeCodebook(fx.codebook, {
    manifest: {
      source: 'built',
      llm: { id: llmPath, vocabHash: vocab.hash, vocabSize: vocab.size },
      clip: { id: fx.clip, fingerprint: clip.fingerprint, dim: EMBED, isStandIn: true },
      rendering: null, expansion: null, templates: null, filter: null,
      counts: { vocabulary: vocab.size, global: N_GLOBAL },
    },
    local: unitRows(vocab.size, EMBED, 11),
    localTexts: texts,
    global: unitRows(N_GLOBAL, EMBED, 12),
    globalEntries: words,
  });

  const config = fixtureConfig(vocab.size, grid);
  const sd = new NetworkParams(config, { seed: 5 }).stateDict();
  const entries = [...sd].filter(([k]) => !k.startsWith('tok_embeddings') && !k.startsWith('discriminator.'));
  writeSafetensors(fx.checkpoint, entries, {
    format: 'v2l-tokenizer/1',
    config: JSON.stringify(config),
    image_size: String(fx.imageSize),
    source: 'stand-in: random weights (task test fixture)',
  });
  writeFileSync(done, new Date().toISOString());
  return fx;
}
