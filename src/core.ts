// The portable core of v2l: no Node-only API below this entry point.
export { parseSafetensors, serializeSafetensors, type SafetensorsFile } from './io/safetensors.js';
export * from './io/dtypes.js';
export { parsePth, pthTensor, type PthFile, type PthOptions } from './io/pth.js';
export { parseNpy, serializeNpy, type NpyArray } from './io/npy.js';
export { unpickle, ALLOWED_GLOBALS, type UnpickleOptions } from './io/pickle.js';
