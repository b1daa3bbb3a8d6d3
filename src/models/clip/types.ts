// The frozen CLIP, as every caller in v2l sees it. Backend: ./transformers-clip.ts
// (@huggingface/transformers on onnxruntime-node, from a local Hugging Face folder). Portable: types only.

import type { RawImage } from '../../image/types.js';

/** Decoded pixels: defined with the other image concepts in src/image/types.ts (re-exported for old imports). */
export type { RawImage };

/** An image given as a file path (Node edge) or as decoded pixels. */
export type ClipImageInput = string | RawImage;

export interface ClipModel {
  /** Model identity (folder name or hub id) for reports and manifests. */
  readonly id: string;
  /** sha256 (hex) over the model's ONNX and config files: keys caches and manifests. */
  readonly fingerprint: string;
  /** Embedding width (768 for ViT-L/14). */
  readonly dim: number;
  /** True for the random-weight stand-in the project generates for tests and demos. */
  readonly isStandIn: boolean;
  /** Image embeddings (CLIP's own preprocessing), L2-normalised, [n, dim] row-major. */
  embedImages(images: readonly ClipImageInput[]): Promise<Float32Array>;
  /** Text embeddings, L2-normalised, [n, dim] row-major. */
  embedTexts(texts: readonly string[]): Promise<Float32Array>;
  dispose(): Promise<void>;
}
