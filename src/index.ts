// v2l public API (Node). The portable subset is also exported from `v2l/core`.
export * from './core.js';
export { readSafetensors, writeSafetensors } from './io/files.js';
export { readPth, readPthTensor, readNpy, readNpyStrings, writeNpy } from './io/files.js';
export { loadImage, loadImages, loadBatch, DEFAULT_MAX_PIXELS, type LoadImageOptions, type LoadImagesOptions, type LoadResult, type LoadedBatch } from './image/load.js';
export { encodePng, savePng, saveTensorPng } from './image/save.js';
