// v2l/clip: the frozen CLIP behind the ClipModel interface (transformers.js + onnxruntime, loaded on
// first use), the STAND-IN CLIP writer, templates, distances, and the one CLIP embedding cache. Node edge.
export type { ClipModel, ClipImageInput } from './types.js';
export { loadClip, fingerprintClip, requiredClipFiles, cleanText, type LoadClipOptions } from './transformers-clip.js';
export { writeStandInClip, defaultMergesPath, STAND_IN_NAME, type StandInOptions, type StandInInfo } from './stand-in.js';
export { IMAGENET_TEMPLATES, fillTemplate, embedWithTemplates, type EnsembleOptions } from './templates.js';
export { squaredNorms, l2Normalize, dotMatrix, squaredEuclidean, cosineSimilarity, topK, type Metric, type TopK, type TopKOptions } from './distance.js';
export { clipImageConfig, clipPixelValues, clipResizeCrop, CLIP_MEAN, CLIP_STD, type ClipImageConfig } from './preprocess.js';
export { EmbeddingCache, embedTextsCached, streamImageEmbeddings, embedImageFiles, imageCacheNamespace, textCacheNamespace, imageFileKey } from './embedding-cache.js';
