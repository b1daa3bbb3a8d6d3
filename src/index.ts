// v2l public API (Node). The portable subset is also exported from `v2l/core`.
export * from './core.js';
export { initBackend, backendInfo, BACKENDS, type BackendInfo, type BackendName } from './engine/backend.js';
export { readSafetensors, writeSafetensors } from './io/files.js';
export { readPth, readPthTensor, readNpy, readNpyStrings, writeNpy } from './io/files.js';
export { loadImage, loadImages, loadBatch, DEFAULT_MAX_PIXELS, type LoadImageOptions, type LoadImagesOptions, type LoadResult, type LoadedBatch } from './image/load.js';
export { encodePng, savePng, saveTensorPng } from './image/save.js';
export { LlamaCppLLM, type LlamaCppOptions } from './models/llm/llama-cpp.js';
export { readVocabulary } from './models/llm/gguf-vocabulary.js';
export { loadLLM, isRemoteSpec, type LoadLLMOptions } from './models/llm/load.js';
export { startCompletionsServer, type CompletionsServer } from './models/llm/server.js';
export { loadClip, fingerprintClip, requiredClipFiles, cleanText, isImagePath, type LoadClipOptions } from './models/clip/transformers-clip.js';
export { writeStandInClip, defaultMergesPath, STAND_IN_NAME, type StandInOptions, type StandInInfo } from './models/clip/stand-in.js';
export { PRESETS, findPreset, pullPreset, listCached, resolveModelPath, cacheRoot, presetDir, type Preset, type PullOptions, type PullResult, type CachedModel } from './models/hub.js';
export { buildCodebook, listImages, resolveTemplates, reportMarkdown, type BuildOptions, type BuildReport, type TemplateSet } from './codebook/build.js';
export { loadCodebook, readManifest, writeCodebook, checkManifest, LOCAL_KEY, GLOBAL_KEY, type CodebookContents } from './codebook/package.js';
export { buildLocalCodebook, type LocalCodebook } from './codebook/local.js';
export { EmbeddingCache, embedTextsCached, streamImageEmbeddings } from './codebook/embed-cache.js';
export { FileExpansionJournal } from './codebook/journal.js';
