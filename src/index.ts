// v2l: start here. The tokenizer; each area has its own entry point
// (package.json "exports"), so importing one never loads the runtimes of the others:
//   v2l/core       portable core (no Node API): tensor-file parsers, preprocessing, the network, LLM
//                  prompt/trie/vocabulary, codebook math, losses
//   v2l/tokenizer  V2LTokenizer, loadTokenizer, weights files, import-official
//   v2l/io         tensor files on disk
//   v2l/image      decode, list, preprocess, PNG        v2l/models   presets and the model cache
//   v2l/llm        the frozen LLM                       v2l/clip     the frozen CLIP, its embedding cache
//   v2l/codebook   building and loading codebooks       v2l/train    training
//   v2l/eval       evaluation metrics                   v2l/tasks    the in-context tasks
// Heavy runtimes (node-llama-cpp, onnxruntime, transformers.js, sharp) load on first use.
export { V2LTokenizer, isFailure, type LoadTokenizerOptions, type TokenizerParts, type EncodedImage, type EncodeFailure, type EncodeResult, type GlobalEncoding, type Reconstruction } from './tokenizer/tokenizer.js';
export type { V2LConfig } from './network/config.js';
export type { ClipModel, ClipImageInput } from './models/clip/types.js';
export type { RawImage } from './image/types.js';
export type { LLM, Vocabulary } from './models/llm/types.js';
export type { Codebook, CodebookManifest } from './codebook/package.js';
// In-context tasks (also v2l/tasks, with their shared machinery).
export { runFewshot, type FewshotRecord, type FewshotRunOptions } from './tasks/fewshot/run.js';
export { runFewshotTable, tableMarkdown, TABLE1_SETTINGS, PAPER_ROWS, type FewshotTable, type FewshotTableOptions } from './tasks/fewshot/table.js';
export { runCaption, readCaptionItems, type CaptionRecord, type CaptionRunOptions } from './tasks/caption/run.js';
export { runVqa, readVqaItems, type VqaRecord, type VqaRunOptions } from './tasks/vqa/run.js';
export { runMasked, type MaskedRecord, type MaskedRunOptions } from './tasks/masked/run.js';
export { writeLoraData, type LoraDataRecord, type LoraDataOptions } from './tasks/lora-data.js';
export { restoreImages, restoreToDir, type RestoreOptions, type RestoreResult, type RestoreRecord, type RestoreToDirOptions } from './tasks/restore/run.js';
