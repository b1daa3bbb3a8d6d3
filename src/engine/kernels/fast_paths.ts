// The switch for the wasm fast paths (matMul, conv input gradient). They are on by default; the
// benchmark turns them off to measure the original kernels in the same run.
let on = true;

export function setFastPaths(enabled: boolean): void {
  on = enabled;
}

export function fastPathsEnabled(): boolean {
  return on;
}
