// A small tokenizer on disk for the viewer's tests: random network weights (64 px -> 16x16 local tokens,
// the paper's grid), a codebook package over stories260K's real 512-token LLaMA-style vocabulary (random
// rows; global entries are real words of that vocabulary) and the STAND-IN CLIP (random weights). Nothing
// it produces means anything; it exercises every code path of `v2l serve` on real files.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { NetworkParams } from '../../network/network-params.js';
import type { V2LConfig } from '../../network/config.js';
import { writeSafetensors } from '../../io/files.js';
import { writeCodebook } from '../../codebook/package.js';
import { renderVocabulary } from '../../codebook/render.js';
import { readVocabulary } from '../../models/llm/gguf-vocabulary.js';
import { writeStandInClip } from '../../models/clip/stand-in.js';
import { TOKENIZER_FORMAT } from '../../tokenizer/weights.js';
import { V2LTokenizer } from '../../tokenizer/tokenizer.js';
import { sharedPath } from '../../util/test-utils/shared.js';

export const STORIES = sharedPath('models/stories260K/stories260K.gguf');
export const MERGES = sharedPath('models/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz');
export const PHOTOS = sharedPath('data/photos');
export const FIXTURE_NEEDS = [STORIES, MERGES, PHOTOS];

export interface ViewerFixture {
  checkpoint: string;
  codebook: string;
  clip: string;
  llm: string;
}

const DIM = 64;

function viewerConfig(nLocal: number, nGlobal: number): V2LConfig {
  return {
    ch: 32, chMult: [1, 2, 2], numResBlocks: 1, resolution: 64, attnResolutions: [], inChannels: 3, outCh: 3,
    zChannels: 32, embedDim: DIM, nLocal, nGlobal, crossAttnHeads: 2, crossAttnDimHead: 16, discLayers: 1, discNdf: 16,
  };
}

/** Seeded uniform [-1, 1) numbers (mulberry32), so the fixture is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

function unitRows(n: number, dim: number, rand: () => number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += (out[i * dim + j] = rand()) ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < dim; j++) out[i * dim + j] *= inv;
  }
  return out;
}

/** Writes (once per folder) checkpoint, codebook package and stand-in CLIP into `dir`. */
export async function writeViewerFixture(dir: string): Promise<ViewerFixture> {
  const f: ViewerFixture = {
    checkpoint: join(dir, 'tokenizer.safetensors'), codebook: join(dir, 'codebook'), clip: join(dir, 'clip-stand-in'), llm: STORIES,
  };
  if (existsSync(join(f.codebook, 'manifest.json')) && existsSync(f.checkpoint) && existsSync(join(f.clip, 'config.json'))) return f;
  mkdirSync(dir, { recursive: true });
  const vocab = await readVocabulary(STORIES);
  const texts = renderVocabulary(vocab);
  // Global entries: the vocabulary's whole words ("▁cat" -> "cat"), as a subword-level global codebook.
  const words = vocab.tokens.flatMap((t, id) => (/^▁[a-z]{3,}$/.test(t) ? [{ text: t.slice(1), ids: [id] }] : []));
  const rand = seeded(11);
  writeStandInClip(f.clip, { seed: 5, projectionDim: DIM, mergesPath: MERGES });
  writeCodebook(f.codebook, {
    manifest: {
      source: 'built',
      llm: { id: 'stories260K.gguf', vocabHash: vocab.hash, vocabSize: vocab.size },
      clip: { id: 'stand-in-clip', fingerprint: null, dim: DIM, isStandIn: true },
      rendering: { tokenStyle: 'sentencepiece', candidateStyle: 'detokenized' },
      expansion: null, templates: null, filter: null,
      counts: { vocabulary: vocab.size, global: words.length },
    },
    local: unitRows(vocab.size, DIM, rand), localTexts: texts, global: unitRows(words.length, DIM, rand), globalEntries: words,
  });
  const config = viewerConfig(vocab.size, words.length);
  const sd = new NetworkParams(config, { seed: 7 }).stateDict();
  sd.delete('tok_embeddings.weight'); // the codebook package provides both codebooks
  sd.delete('tok_embeddings_global.weight');
  for (const k of [...sd.keys()]) if (k.startsWith('discriminator.')) sd.delete(k);
  writeSafetensors(f.checkpoint, sd, { format: TOKENIZER_FORMAT, config: JSON.stringify(config), image_size: '64' });
  return f;
}

/** Loads the fixture's tokenizer as the viewer does (the ONNX engine; exported in memory, no cache). */
export async function loadViewerTokenizer(f: ViewerFixture): Promise<V2LTokenizer> {
  return V2LTokenizer.load({ checkpoint: f.checkpoint, codebook: f.codebook, clip: f.clip, onnxCache: null });
}

/** Builds the front end into `dir`/web (esbuild, well under a second) so tests never serve a stale bundle. */
export async function buildFrontEnd(dir: string): Promise<string> {
  const script = new URL('../../../scripts/build-web.mjs', import.meta.url).href;
  const { buildWeb } = (await import(script)) as { buildWeb: (out: string) => Promise<string> };
  return buildWeb(join(dir, 'web'));
}

/** Chromium for the browser tests: $V2L_CHROMIUM or Debian's /usr/bin/chromium. */
export function chromiumPath(): string | null {
  const candidates = [process.env.V2L_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => Boolean(p));
  return candidates.find((p) => existsSync(p)) ?? null;
}

/** Flags for headless Chromium on a machine with no network (nothing it would fetch on its own). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A valid black 1-bit greyscale PNG of `width` x `height` pixels (20000 x 20000 is about 60 KB): a real
 * file whose decoded size would be huge, for the pixel-limit tests.
 */
export function hugePng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Uint8Array) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const row = 1 + Math.ceil(width / 8); // filter byte + packed bits, all zero
  const z = deflateSync(Buffer.alloc(row * height), { level: 9 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', z), chunk('IEND', new Uint8Array(0))]);
}
