// v2l/engine: choosing the tensor backend (entry points only: the CLI, benchmarks, tests, your program),
// and the kernels v2l registers for it. Node edge.
export { initBackend, chooseBackend, backendReady, requireBackend, backendInfo, BACKENDS, type BackendInfo, type BackendName } from './backend.js';
export { registerEngineKernels, registeredKernels, originalKernel, setFastPaths, fastPathsEnabled, type RegisteredKernels } from './kernels/index.js';
