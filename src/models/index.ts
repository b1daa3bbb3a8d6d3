// v2l/models: model presets and the local model cache (downloads checked by size and sha256). Node edge.
export { PRESETS, findPreset, pullPreset, listCached, resolveModelPath, cacheRoot, presetDir, hubEndpoint, formatBytes, MARKER_FILE, type Preset, type PullOptions, type PullResult, type CachedModel } from './hub.js';
