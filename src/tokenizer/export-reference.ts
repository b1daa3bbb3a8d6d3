// `v2l export-reference`: a v2l checkpoint and its codebook package written in the PyTorch reference's own
// layout (the folder the reference's scripts read, and `v2l import-official` reads back), so that training can
// go on with an existing distributed engine (torchrun / DDP on a cluster) instead of a home-made one:
//
//   checkpoints/v2l-decode.pth                 {'state_dict': OrderedDict}: the network under the reference's
//                                              module names (encoder, decoder, quant_conv, post_quant_conv,
//                                              codebook_projection, discriminator) + tok_embeddings.weight and
//                                              tok_embeddings_global.weight, as VQModel_LLaMA.state_dict() has them
//   codebooks/local_codebook_embedding.pth     torch.save(tensor [nLocal, dim])   (--local_embedding_path)
//   codebooks/global_codebook_embedding.pth    torch.save(tensor [nGlobal, dim])  (--global_embedding_path)
//   codebooks/global_vocabulary.npy            the global entries' texts (np.load(..., allow_pickle=True))
//   vqgan_configs/v2l.yaml                     model.params.ddconfig for --vq_config_path (OmegaConf)
//   v2l-export.json                            what was exported from where (sha256 of every file), the
//                                              configuration, image size, global tokens, CLIP, and the reference flags
//
// The reference's scripts load the checkpoint as `torch.load(p, map_location="cpu")["state_dict"]` with
// strict=False (its evaluation scripts; `--stage_1_ckpt`) and the codebooks with `torch.load`. Its training
// script (step4) starts from scratch or from its own `vqgan_checkpoint-last.pth`, which also holds the frozen
// CLIP and LPIPS weights and the optimisers it creates itself; a run started from this export loads the same
// state dict into the model before wrapping it in DDP (docs/architecture.md). Adam moments are not exported.
//
// The reference's modules hard-code parts of the configuration (768-d CLIP ViT-L/14 codebooks, the decoder's
// 8-head cross-attention of width block_in, a 2-layer 64-filter discriminator, raw (not cosine) codes): a
// network that differs there is refused, naming each difference, unless `allowMismatch`.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HostTensor } from '../io/dtypes.js';
import { toFloat32 } from '../io/dtypes.js';
import { writeNpyStrings, writePth } from '../io/files.js';
import { loadCodebook, GLOBAL_KEY, LOCAL_KEY, type CodebookManifest } from '../codebook/package.js';
import { blockIn, hasCrossAttention, type V2LConfig } from '../network/config.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import { sha256File } from '../util/hash.js';
import { readTokenizerWeights } from './weights.js';

export const REFERENCE_EXPORT_FORMAT = 'v2l-reference-export/1';

/** The files of the reference's layout, relative to the export folder (the names its scripts and Run.sh use). */
export const REFERENCE_FILES = {
  checkpoint: 'checkpoints/v2l-decode.pth',
  local: 'codebooks/local_codebook_embedding.pth',
  global: 'codebooks/global_codebook_embedding.pth',
  vocabulary: 'codebooks/global_vocabulary.npy',
  vqConfig: 'vqgan_configs/v2l.yaml',
} as const;

/** The export's own manifest beside the reference files; `v2l import-official` reads it when present. */
export const EXPORT_MANIFEST = 'v2l-export.json';

export interface ReferenceExportManifest {
  format: typeof REFERENCE_EXPORT_FORMAT;
  created: string;
  source: { checkpoint: string; checkpointSha256: string; codebook: string };
  config: V2LConfig;
  imageSize: number;
  globalTokens: number;
  clip: CodebookManifest['clip'];
  llm: CodebookManifest['llm'];
  /** Each file of REFERENCE_FILES with its sha256. */
  files: Record<string, { path: string; bytes: number; sha256: string }>;
  /**
   * The reference scripts' flags for this network and these files: `train` for its training script
   * (step4_training_v2l_tokenizer.py), `eval` for eval_*.py (the same plus --stage_1_ckpt).
   */
  referenceFlags: ReferenceFlags;
  /** Where the reference's modules differ from this network (empty unless written with allowMismatch). */
  mismatches: string[];
  notes: string[];
}

export interface ExportReferenceOptions {
  /** Weights: a v2l safetensors (v2l train / import-official) or a reference .pth. */
  checkpoint: string;
  /** The codebook package the network was trained with (its texts become global_vocabulary.npy). */
  codebook: string;
  out: string;
  /** Image side (default: the checkpoint's, else 128). */
  imageSize?: number;
  /** Global tokens per image (default: the checkpoint's, else 5). */
  globalTokens?: number;
  /** Write even where the reference's modules cannot hold this network (the mismatches are recorded). */
  allowMismatch?: boolean;
  log?: (line: string) => void;
}

export interface ExportReferenceReport {
  out: string;
  manifest: string;
  files: Record<keyof typeof REFERENCE_FILES, string>;
  tensors: number;
  referenceFlags: ReferenceFlags;
  mismatches: string[];
  notes: string[];
}

export interface ReferenceFlags {
  train: string[];
  eval: string[];
}

/** What the reference's own modules (models/models_v2l.py, models/encoder_decoder.py) cannot represent of `c`. */
export function referenceMismatches(c: V2LConfig): string[] {
  const out: string[] = [];
  if (c.embedDim !== 768) out.push(`codebooks are ${c.embedDim}-d: the reference compares CLIP ViT-L/14's 768-d image features with the global codebook and normalises the encoder output only when embed_dim is 768`);
  if (!hasCrossAttention(c)) out.push('the decoder has no cross-attention: the reference\'s Decoder always builds and applies decoder.mid.cross_attn_1 (its use_crossatt_dec switch is ignored)');
  else if (c.crossAttnHeads !== 8 || c.crossAttnDimHead !== blockIn(c)) out.push(`the decoder's cross-attention has ${c.crossAttnHeads} heads of width ${c.crossAttnDimHead}: the reference's Decoder hard-codes 8 heads of width block_in (${blockIn(c)})`);
  if (c.discLayers !== 2 || c.discNdf !== 64) out.push(`the discriminator has ${c.discLayers} layers of ${c.discNdf} filters: the reference hard-codes NLayerDiscriminator(n_layers=2, ndf=64)`);
  if (c.cosineCodes) out.push('the local codes are cosine (L2-normalised projected rows, the robust recipe): the reference\'s quantizer uses the raw projected rows, so its ids and reconstructions would differ');
  if (c.inChannels !== 3 || c.outCh !== 3) out.push(`images have ${c.inChannels} input / ${c.outCh} output channels: the reference's discriminator and data are RGB`);
  return out;
}

/** The reference's `--vq_config_path` YAML (OmegaConf) for this network: model.params.ddconfig. */
export function referenceVqConfig(c: V2LConfig): string {
  const list = (xs: readonly number[]) => `[${xs.join(', ')}]`;
  return [
    '# Written by `v2l export-reference`: the reference\'s vqgan config for this network (--vq_config_path).',
    'model:',
    '  target: models.models_v2l.VQModel_LLaMA',
    '  params:',
    `    embed_dim: ${c.embedDim}`,
    '    monitor: val/rec_loss',
    '    ddconfig:',
    '      double_z: false',
    `      z_channels: ${c.zChannels}`,
    `      resolution: ${c.resolution}`,
    `      in_channels: ${c.inChannels}`,
    `      out_ch: ${c.outCh}`,
    `      ch: ${c.ch}`,
    `      ch_mult: ${list(c.chMult)}`,
    `      num_res_blocks: ${c.numResBlocks}`,
    `      attn_resolutions: ${list(c.attnResolutions)}`,
    '      dropout: 0.0',
    '',
  ].join('\n');
}

/**
 * The reference scripts' flags for this network, with the exported files' paths relative to the export
 * folder (run the scripts there): the training script takes no --stage_1_ckpt (its argparse refuses it).
 */
export function referenceFlags(c: V2LConfig, imageSize: number): ReferenceFlags {
  const train = [
    `--image_size ${imageSize}`, `--embed_dim ${c.embedDim}`, `--n_vision_words ${c.nLocal}`,
    '--use_cblinear 1', `--use_crossatt_dec ${hasCrossAttention(c) ? 1 : 0}`, '--tuning_codebook 0', '--quantizer_type org',
    `--vq_config_path ${REFERENCE_FILES.vqConfig}`, `--local_embedding_path ${REFERENCE_FILES.local}`,
    `--global_embedding_path ${REFERENCE_FILES.global}`,
  ];
  return { train, eval: [...train, `--stage_1_ckpt ${REFERENCE_FILES.checkpoint}`] };
}

function sameValues(a: HostTensor, b: Float32Array): boolean {
  const x = toFloat32(a);
  if (x.length !== b.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== b[i] && !(Number.isNaN(x[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

export function exportReference(o: ExportReferenceOptions): ExportReferenceReport {
  const log = o.log ?? (() => {});
  if (!existsSync(o.checkpoint)) throw new Error(`export-reference: checkpoint ${o.checkpoint} does not exist`);
  // Everything is read and checked before anything is written.
  log(`reading ${o.checkpoint}`);
  const w = readTokenizerWeights(o.checkpoint);
  const cb = loadCodebook(o.codebook);
  const nLocal = cb.local.length / cb.dim;
  const nGlobal = cb.global.length / cb.dim;
  if (cb.dim !== w.config.embedDim) throw new Error(`export-reference: codebook ${cb.dir} has ${cb.dim}-d embeddings, the network in ${o.checkpoint} expects ${w.config.embedDim}-d`);
  const config: V2LConfig = { ...w.config, nLocal, nGlobal };
  // A checkpoint that holds codebooks (v2l train's do) must hold these ones: the export pairs them.
  for (const [key, rows, what] of [[LOCAL_KEY, cb.local, 'local'], [GLOBAL_KEY, cb.global, 'global']] as const) {
    const held = w.stateDict.get(key);
    if (held && !sameValues(held, rows)) throw new Error(`export-reference: ${o.checkpoint} holds a ${what} codebook (${key}, [${held.shape}]) that differs from ${cb.dir}'s; export it with the codebook it was trained with`);
  }
  const mismatches = referenceMismatches(config);
  if (mismatches.length && !o.allowMismatch) {
    throw new Error(`export-reference: the reference's modules cannot hold this network: ${mismatches.join('; ')}. Pass --allow-mismatch to write the files anyway (torch.load reads them; the reference's VQModel_LLaMA will not accept these tensors)`);
  }
  const imageSize = o.imageSize ?? w.imageSize ?? 128;
  const globalTokens = o.globalTokens ?? w.globalTokens ?? 5;
  const notes: string[] = [];
  if (w.foreign.length) notes.push(`left out ${w.foreign.length} checkpoint tensors outside the tokenizer network (${[...new Set(w.foreign.map((k) => k.split('.')[0]))].join(', ')})`);
  if (imageSize !== 128) notes.push(`image size ${imageSize}: the reference's training data loader crops 128 px whatever --image_size says (step4's ImageNetDataset)`);
  if (!w.stateDict.has('discriminator.main.0.weight')) notes.push('the checkpoint holds no discriminator: the reference initialises a new one');

  const stateDict = new Map<string, HostTensor>();
  for (const [k, t] of w.stateDict) if (k !== LOCAL_KEY && k !== GLOBAL_KEY) stateDict.set(k, t);
  stateDict.set(LOCAL_KEY, { dtype: 'F32', shape: [nLocal, cb.dim], data: cb.local });
  stateDict.set(GLOBAL_KEY, { dtype: 'F32', shape: [nGlobal, cb.dim], data: cb.global });

  const out = resolve(o.out);
  const path = (k: keyof typeof REFERENCE_FILES) => join(out, REFERENCE_FILES[k]);
  log(`writing ${path('checkpoint')} (${stateDict.size} tensors)`);
  writePth(path('checkpoint'), stateDict, { wrapStateDict: true });
  writePth(path('local'), stateDict.get(LOCAL_KEY)!);
  writePth(path('global'), stateDict.get(GLOBAL_KEY)!);
  writeNpyStrings(path('vocabulary'), cb.globalEntries.map((e) => e.text));
  writeFileAtomic(path('vqConfig'), referenceVqConfig(config));

  const files: ReferenceExportManifest['files'] = {};
  for (const k of Object.keys(REFERENCE_FILES) as (keyof typeof REFERENCE_FILES)[]) {
    files[k] = { path: REFERENCE_FILES[k], bytes: statSync(path(k)).size, sha256: sha256File(path(k)) };
  }
  const flags = referenceFlags(config, imageSize);
  const manifest: ReferenceExportManifest = {
    format: REFERENCE_EXPORT_FORMAT,
    created: new Date().toISOString(),
    source: { checkpoint: resolve(o.checkpoint), checkpointSha256: sha256File(o.checkpoint), codebook: resolve(cb.dir) },
    config,
    imageSize,
    globalTokens,
    clip: cb.manifest.clip,
    llm: cb.manifest.llm,
    files,
    referenceFlags: flags,
    mismatches,
    notes,
  };
  writeJsonAtomic(join(out, EXPORT_MANIFEST), manifest);
  return {
    out,
    manifest: join(out, EXPORT_MANIFEST),
    files: Object.fromEntries(Object.keys(REFERENCE_FILES).map((k) => [k, path(k as keyof typeof REFERENCE_FILES)])) as Record<keyof typeof REFERENCE_FILES, string>,
    tensors: stateDict.size,
    referenceFlags: flags,
    mismatches,
    notes,
  };
}

/** Reads an export's manifest (for `import-official`); null when `path` does not exist. */
export function readExportManifest(path: string): ReferenceExportManifest | null {
  if (!existsSync(path)) return null;
  let m: ReferenceExportManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as ReferenceExportManifest;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const version = /^v2l-reference-export\/(\d+)$/.exec(String(m.format))?.[1];
  if (!version) throw new Error(`${path}: format ${JSON.stringify(m.format)} is not a v2l reference export`);
  if (Number(version) > 1) throw new Error(`${path}: format ${m.format} is newer than this v2l reads; upgrade v2l`);
  return m;
}
