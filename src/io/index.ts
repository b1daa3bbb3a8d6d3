// v2l/io: tensor files on disk (safetensors, PyTorch .pth without executing pickles, NumPy .npy).
// The byte-level parsers are portable and also in v2l/core. Node edge.
export { readSafetensors, writeSafetensors, readPth, readPthTensor, readNpy, readNpyStrings, writeNpy, writeNpyStrings, writePth } from './files.js';
export { parseSafetensors, serializeSafetensors, type SafetensorsFile } from './safetensors.js';
export { parsePth, pthTensor, MAX_PTH_DEPTH, type PthFile, type PthOptions } from './pth.js';
export { serializePth } from './pth-write.js';
export { parseNpy, serializeNpy, serializeNpyStrings, type NpyArray } from './npy.js';
export * from './dtypes.js';
