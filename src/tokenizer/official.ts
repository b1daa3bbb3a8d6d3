// `v2l import-official`: converts the public reference's artefacts (published on a Google Drive folder,
// PyTorch and NumPy files) into the project's layout, reading them without executing any pickle:
//
//   codebooks/local_codebook_embedding.pth   [32000, 768]  CLIP text embeddings of the LLaMA-2 vocabulary
//   codebooks/global_codebook_embedding.pth  [11908, 768]  the filtered expanded vocabulary
//   codebooks/global_vocabulary.npy          11908 texts   (object array of str)
//   checkpoints/v2l-decode.pth               {'state_dict': ...} of VQModel_LLaMA
//
// into
//
//   <out>/tokenizer.safetensors   the network's state dict (reference names) + its configuration (read from
//                                 the tensor shapes and key names; any configuration of the reference code)
//   <out>/codebook/               a codebook package (../codebook/package.ts), source "official"
//   <out>/manifest.json           what was imported from where (sha256 of every input and output)
//
// A folder written by `v2l export-reference` (./export-reference.ts) has the same layout plus its
// `v2l-export.json`, which gives the configuration, image size, global tokens and CLIP that the reference's
// files do not hold; so a network trained further with the reference's code comes back as it went out.
// The reference's own training checkpoints (`vqgan_checkpoint-<epoch>.pth`: `{'state_dict', 'epoch', 'args'}`;
// `vqgan_checkpoint-last.pth`: `{'model', 'opt_ae', ...}`) are read as `--checkpoint` too.
//
// The local texts and the vocabulary hash come from the LLM whose vocabulary the codebook embeds
// (LLaMA-2: a vocab-only GGUF is enough), so that loading later refuses another LLM.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { HostTensor } from '../io/dtypes.js';
import { toFloat32 } from '../io/dtypes.js';
import { readNpyStrings, readPthTensor, writeSafetensors } from '../io/files.js';
import { writeCodebook, LOCAL_KEY, GLOBAL_KEY, type CodebookManifest } from '../codebook/package.js';
import { renderVocabulary, tokenStyleOf } from '../codebook/render.js';
import { readVocabulary } from '../models/llm/gguf-vocabulary.js';
import type { V2LConfig } from '../network/config.js';
import { describeConfig } from '../network/config-infer.js';
import { NetworkParams } from '../network/network-params.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { sha256File } from '../util/hash.js';
import { readTokenizerWeights, TOKENIZER_FORMAT, weightsMetadata } from './weights.js';
import { EXPORT_MANIFEST, readExportManifest } from './export-reference.js';

export const IMPORT_FORMAT = 'v2l-import/1';

export interface OfficialFiles {
  checkpoint?: string;
  local: string;
  global: string;
  vocabulary: string;
  /** `v2l-export.json` of a `v2l export-reference` folder, when there is one. */
  exportManifest?: string;
}

/** The official file names under the reference's download folder. */
export function officialLayout(root: string): OfficialFiles {
  const ck = join(root, 'checkpoints', 'v2l-decode.pth');
  const exported = join(root, EXPORT_MANIFEST);
  return {
    ...(existsSync(exported) ? { exportManifest: exported } : {}),
    checkpoint: existsSync(ck) ? ck : undefined,
    local: join(root, 'codebooks', 'local_codebook_embedding.pth'),
    global: join(root, 'codebooks', 'global_codebook_embedding.pth'),
    vocabulary: join(root, 'codebooks', 'global_vocabulary.npy'),
  };
}

export interface ImportOptions {
  files: OfficialFiles;
  /** GGUF (vocab-only is enough) of the LLM the local codebook embeds: LLaMA-2 for the official files. */
  llm: string;
  out: string;
  /** CLIP the codebooks were embedded with (recorded in the manifest). */
  clipId?: string;
  /**
   * Configuration fields of the checkpoint that its shapes leave open (cross-attention heads, resolution,
   * ...): the rest is read from the state dict; the codebooks fix embedDim, nLocal and nGlobal.
   */
  config?: Partial<V2LConfig>;
  /** Image side the checkpoint was trained at (default: the export manifest's, else 128, the paper's). */
  imageSize?: number;
  /** Global tokens per image the decoder was trained with (default: the export manifest's, else 5). */
  globalTokens?: number;
  log?: (line: string) => void;
}

export interface ImportReport {
  out: string;
  tokenizer: string | null;
  codebook: string;
  localRows: number;
  globalRows: number;
  notes: string[];
}


function rows(t: HostTensor, path: string): { n: number; dim: number; data: Float32Array } {
  if (t.shape.length !== 2) throw new Error(`${path}: expected a 2-D codebook [rows, dim], got [${t.shape}]`);
  return { n: t.shape[0], dim: t.shape[1], data: toFloat32(t) };
}

export async function importOfficial(o: ImportOptions): Promise<ImportReport> {
  const log = o.log ?? (() => {});
  const { files } = o;
  for (const [what, p] of Object.entries(files)) if (p && !existsSync(p)) throw new Error(`import-official: ${what} file ${p} does not exist`);
  const notes: string[] = [];
  const exported = files.exportManifest ? readExportManifest(files.exportManifest) : null;
  if (exported) notes.push(`configuration, image size, global tokens and CLIP from ${files.exportManifest} (v2l export-reference)`);

  // Everything is read and checked before anything is written.
  log(`reading ${files.local}`);
  let local = rows(readPthTensor(files.local), files.local);
  log(`reading ${files.global}`);
  let global = rows(readPthTensor(files.global), files.global);
  log(`reading ${files.vocabulary}`);
  const texts = readNpyStrings(files.vocabulary);
  const vocab = await readVocabulary(o.llm);
  // The reference's filtering script writes its outputs under each other's names; recognise a swap.
  if (local.n !== vocab.size && global.n === vocab.size) {
    [local, global] = [global, local];
    notes.push(`the "local" and "global" codebook files were swapped (the reference script's file-name bug): used ${files.global} as the local codebook`);
  }
  if (local.n !== vocab.size) throw new Error(`local codebook ${files.local} has ${local.n} rows, the LLM vocabulary in ${o.llm} has ${vocab.size}: they must be the same vocabulary`);
  if (local.dim !== global.dim) throw new Error(`local codebook is ${local.dim}-d, global codebook is ${global.dim}-d`);
  if (texts.length !== global.n) throw new Error(`${files.vocabulary} has ${texts.length} texts, the global codebook has ${global.n} rows`);

  let weights: Map<string, HostTensor> | null = null;
  let config: V2LConfig | null = null;
  if (files.checkpoint) {
    log(`reading ${files.checkpoint}`);
    const w = readTokenizerWeights(files.checkpoint, { config: { ...exported?.config, ...o.config, embedDim: local.dim, nLocal: local.n, nGlobal: global.n } });
    config = { ...w.config, embedDim: local.dim, nLocal: local.n, nGlobal: global.n };
    log(`checkpoint configuration: ${describeConfig(config)}`);
    for (const a of w.assumed) notes.push(`assumed ${a}`);
    if (w.foreign.length) notes.push(`skipped ${w.foreign.length} checkpoint tensors outside the tokenizer network (${[...new Set(w.foreign.map((k) => k.split('.')[0]))].join(', ')})`);
    // Validate against the network before writing: every missing or misshapen key is counted.
    new NetworkParams(config, { init: 'zeros' }).loadStateDict(w.stateDict, { optionalPrefixes: ['discriminator.', 'tok_embeddings'] });
    weights = new Map([...w.stateDict].filter(([k]) => k !== LOCAL_KEY && k !== GLOBAL_KEY));
  }

  const codebookDir = join(o.out, 'codebook');
  const tokenStyle = tokenStyleOf(vocab);
  const manifest: CodebookManifest = writeCodebook(codebookDir, {
    manifest: {
      source: 'official',
      llm: { id: o.llm, vocabHash: vocab.hash, vocabSize: vocab.size },
      clip: exported && o.clipId === undefined && exported.clip.dim === local.dim
        ? exported.clip
        : { id: o.clipId ?? 'openai/clip-vit-large-patch14', fingerprint: null, dim: local.dim, isStandIn: false },
      rendering: { tokenStyle, candidateStyle: 'reference' },
      expansion: { prefix: 'a photo of', m: 1, excludedContinuations: [] },
      templates: { name: 'imagenet80', count: 80, hash: 'not recorded by the reference' },
      // The reference ranked candidates by the raw dot product of CLIP embeddings over ImageNet-1K train.
      filter: { similarity: 'dot', k: 5, threshold: 100, topN: null, imageCount: 1281167 },
      counts: { vocabulary: vocab.size, global: global.n },
    },
    local: local.data,
    localTexts: renderVocabulary(vocab, tokenStyle),
    global: global.data,
    globalEntries: texts.map((text) => ({ text })),
  });
  let tokenizerPath: string | null = null;
  if (weights && config) {
    tokenizerPath = join(o.out, 'tokenizer.safetensors');
    writeSafetensors(tokenizerPath, weights, weightsMetadata({ format: TOKENIZER_FORMAT, config, imageSize: o.imageSize ?? exported?.imageSize ?? 128, globalTokens: o.globalTokens ?? exported?.globalTokens ?? 5, source: 'official' }));
  }
  const inputs: Record<string, { path: string; bytes: number; sha256: string }> = {};
  for (const [what, p] of Object.entries(files)) if (p) inputs[what] = { path: p, bytes: statSync(p).size, sha256: sha256File(p) };
  writeJsonAtomic(join(o.out, 'manifest.json'), {
    format: IMPORT_FORMAT,
    created: new Date().toISOString(),
    inputs,
    llm: { path: o.llm, vocabHash: vocab.hash, vocabSize: vocab.size },
    outputs: {
      ...(tokenizerPath ? { tokenizer: { path: 'tokenizer.safetensors', sha256: sha256File(tokenizerPath) } } : {}),
      codebook: { path: 'codebook', files: manifest.files },
    },
    notes,
  });
  return { out: o.out, tokenizer: tokenizerPath, codebook: codebookDir, localRows: local.n, globalRows: global.n, notes };
}
