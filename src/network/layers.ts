// Constants of the network's layers that every form of it shares (the ONNX emitters of ./layers.onnx.ts,
// the FLOP counts): taming's Normalize is GroupNorm(32 groups, eps 1e-6, affine).
export const GROUPS = 32;
export const GN_EPS = 1e-6;
