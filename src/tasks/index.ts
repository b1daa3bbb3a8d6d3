// v2l/tasks: the in-context tasks as library functions (Node edge: they read image files and write
// resumable records), and the machinery they share. Their portable pieces (prompts, episodes,
// corruptions, masks) are also in v2l/core.
//
//   import { runFewshot } from 'v2l/tasks';
export { runFewshot, type FewshotRecord, type FewshotRunOptions } from './fewshot/run.js';
export { runFewshotTable, tableMarkdown, TABLE1_SETTINGS, PAPER_ROWS, type FewshotTable, type FewshotTableOptions } from './fewshot/table.js';
export { runCaption, readCaptionItems, type CaptionRecord, type CaptionRunOptions } from './caption/run.js';
export { runVqa, readVqaItems, type VqaRecord, type VqaRunOptions } from './vqa/run.js';
export { restoreImages, restoreToDir, type RestoreOptions, type RestoreResult, type RestoreRecord, type RestoreToDirOptions } from './restore/run.js';
export { runMasked, type MaskedRecord, type MaskedRunOptions } from './masked/run.js';
export { writeLoraData, type LoraDataRecord, type LoraDataOptions } from './lora-data.js';
export { RunRecords, configDiff, type RunConfig } from './records.js';
export { tokenizerTokens, tokensFile, isTokensFailure, type ImageTokenProvider, type ImageTokens, type TokensFailure, type TokensResult } from './image-tokens.js';
export { globalText, type GlobalTextStyle } from './global-text.js';
export { summaryText, llmDelta, type RunSummary } from './summary.js';
