// The portable core of v2l: no Node-only API below this entry point.
export { parseSafetensors, serializeSafetensors, type SafetensorsFile } from './io/safetensors.js';
export * from './io/dtypes.js';
