// The two quantizers of VQModel_LLaMA (computed by the ONNX emitters of ./quantize.onnx.ts and the
// training step graph).
// Local: every position's feature z picks the nearest row of the projected LLM codebook by squared distance
// d = |z|^2 + |e|^2 - 2 z.e; the decoder sees the straight-through z + sg(zq - z); the VQ loss is the
// reference's mean((sg(zq) - z)^2) + 0.33 * mean((zq - sg(z))^2) (weight 1 on the commitment term, 0.33 on
// the codebook/projector term).
// Global: the Kg nearest rows of the (unprojected) global codebook to the L2-normalised CLIP image embedding.

/** Weight of the codebook (projector) term of the VQ loss in the reference. */
export const CODEBOOK_TERM_WEIGHT = 0.33;
