// The portable core of v2l: no Node-only API below this entry point.
export { parseSafetensors, serializeSafetensors, type SafetensorsFile } from './io/safetensors.js';
export * from './io/dtypes.js';
export { parsePth, pthTensor, type PthFile, type PthOptions } from './io/pth.js';
export { parseNpy, serializeNpy, type NpyArray } from './io/npy.js';
export { unpickle, ALLOWED_GLOBALS, type UnpickleOptions } from './io/pickle.js';
export { preprocess, preprocessOne, toNCHW, toRGB, resizeAndCrop, centreCrop, shortSideSize, type ImageBatch, type PreprocessMode, type PreprocessOptions } from './image/preprocess.js';
export { resizePillow, interpolateBilinear, type ResampleFilter } from './image/resample.js';
export { fromNCHW, sideBySide, unitToByte, type GridOptions } from './image/pixels.js';
export { decodeBmp } from './image/bmp.js';
