// The DEMO tokenizer shipped in the package (demo/ at the package root), used by the commands that run the
// tokenizer when no model flag is given, so that `v2l tokenize photo.jpg` works right after install.
// It is a demo, said wherever it appears: the network is the `small` preset (64 px -> 16x16 local tokens)
// trained briefly on Tiny-ImageNet, its codebook is over stories260K's 512-token vocabulary (a toy LLM),
// and its CLIP is the random-weight STAND-IN, so the global tokens carry no meaning. Only the network and
// the codebook ship; the stand-in CLIP (13 MB, mostly its unused text tower) is generated on first use
// into the cache from the seed recorded in demo/demo.json, and checked against the fingerprint the
// codebook was built with. `npm run build-demo` (scripts/build-demo.ts) makes all of it again.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../models/hub.js';
import { fingerprintClip } from '../models/clip/transformers-clip.js';
import { writeStandInClip, type StandInOptions } from '../models/clip/stand-in.js';

/** One line for consoles and notes: what the demo is and how to leave it. */
export const DEMO_NOTE = 'the built-in DEMO tokenizer (64 px, small preset, briefly trained; stories260K vocabulary; ' +
  'STAND-IN CLIP: global tokens are meaningless): give --checkpoint, --codebook and --clip for a real one';

/** demo/demo.json: how the shipped files were made (written by scripts/build-demo.ts). */
export interface DemoManifest {
  format: 'v2l-demo/1';
  note: string;
  /** Files relative to demo/. */
  checkpoint: string;
  codebook: string;
  /** The stand-in CLIP to generate: writeStandInClip's options and the fingerprint it must have. */
  clip: { options: Pick<StandInOptions, 'seed' | 'hidden' | 'layers' | 'projectionDim'>; fingerprint: string };
  /** Provenance and the figures measured when it was built. */
  build: Record<string, unknown>;
}

export interface DemoModels {
  checkpoint: string;
  codebook: string;
  clip: string;
  manifest: DemoManifest;
}

/** demo/ of this package (the same two levels up from src/demo/ under tsx and from dist/demo/). */
export function demoDir(): string {
  return fileURLToPath(new URL('../../demo/', import.meta.url));
}

export function readDemoManifest(dir = demoDir()): DemoManifest {
  const file = join(dir, 'demo.json');
  if (!existsSync(file)) {
    throw new Error(`the built-in demo tokenizer is missing (${file}): rebuild it with \`npm run build-demo\`, or give --checkpoint, --codebook and --clip`);
  }
  const m = JSON.parse(readFileSync(file, 'utf8')) as DemoManifest;
  if (m.format !== 'v2l-demo/1') throw new Error(`${file}: unknown format ${String(m.format)}`);
  return m;
}

/**
 * The demo's files, its stand-in CLIP generated under `<cache>/demo/` on first use (cache: explicit,
 * else V2L_CACHE, else ~/.cache/v2l). A generated CLIP whose fingerprint differs from the one the
 * codebook was built with is removed and refused, so a mismatch can never give silently wrong tokens.
 */
export async function demoModels(opts: { cacheDir?: string; dir?: string } = {}): Promise<DemoModels> {
  const dir = opts.dir ?? demoDir();
  const manifest = readDemoManifest(dir);
  const checkpoint = join(dir, manifest.checkpoint);
  const codebook = join(dir, manifest.codebook);
  for (const p of [checkpoint, join(codebook, 'manifest.json')]) {
    if (!existsSync(p)) throw new Error(`the built-in demo tokenizer is incomplete (no ${p}): rebuild it with \`npm run build-demo\``);
  }
  const clip = join(cacheRoot(opts.cacheDir), 'demo', `stand-in-clip-${manifest.clip.fingerprint.slice(0, 16)}`);
  if (!existsSync(join(clip, 'config.json'))) {
    // The tokenizer uses only the vision tower: no tokenizer files, so no CLIP merges file is needed.
    const info = writeStandInClip(clip, { ...manifest.clip.options, tokenizerFiles: false });
    const fingerprint = await fingerprintClip(clip, info.files);
    if (fingerprint !== manifest.clip.fingerprint) {
      rmSync(clip, { recursive: true, force: true });
      throw new Error(`the demo's stand-in CLIP generated here has fingerprint ${fingerprint}, the demo codebook was built with ${manifest.clip.fingerprint}: ` +
        'this Node computes the seeded weights differently; please report it (the demo cannot run here)');
    }
  }
  return { checkpoint, codebook, clip, manifest };
}
