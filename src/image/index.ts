// v2l/image: images in and out (decoding with sharp, loaded on first use; PNG output), which files are
// images, and the portable preprocessing (also in v2l/core). Node edge.
export { isImagePath, IMAGE_EXTENSIONS, type RawImage } from './types.js';
export { listImages, type ListImagesOptions } from './list.js';
export { loadImage, loadImages, loadBatch, decoderMessage, DEFAULT_MAX_PIXELS, type LoadImageOptions, type LoadImagesOptions, type LoadResult, type LoadedBatch } from './load.js';
export { encodePng, savePng, saveTensorPng } from './save.js';
export { preprocess, preprocessOne, toNCHW, toRGB, resizeAndCrop, centreCrop, shortSideSize, type ImageBatch, type PreprocessMode, type PreprocessOptions } from './preprocess.js';
export { resizePillow, interpolateBilinear, type ResampleFilter } from './resample.js';
export { fromNCHW, sideBySide, unitToByte, type GridOptions } from './pixels.js';
export { decodeBmp } from './bmp.js';
