// The tokenizer's training losses, after taming-transformers' VQLPIPSWithDiscriminator as the V2L reference
// configures it (computed in the ONNX step graphs, ./onnx-step.ts):
//   generator:     L = nll + codebookWeight * L_VQ + d_weight * discFactor * g_loss
//                  nll = mean|x - x^| (or mean (x - x^)^2, the paper's form) + perceptualWeight * LPIPS(x, x^)
//                  g_loss = -mean D(x^)
//                  d_weight = clamp(|d nll/dW| / (|d g_loss/dW| + 1e-4), 0, 1e4) * discWeight,
//                  W = decoder.conv_out.weight (the decoder's last layer), treated as a constant
//   discriminator: discFactor * 0.5 * (mean relu(1 - D(x)) + mean relu(1 + D(sg(x^))))  (hinge)
// discFactor is 0 before `discStart` (the GAN terms are then skipped entirely). The VQ loss is
// mean((sg(zq)-z)^2) + 0.33 mean((zq-sg(z))^2). Here: what the host computes. Portable.

export type ReconstructionLoss = 'l1' | 'l2';

/** Mean absolute (reference) or squared (paper) pixel error of host arrays (validation). */
export function reconstructionError(x: ArrayLike<number>, xRec: ArrayLike<number>, kind: ReconstructionLoss): number {
  if (kind !== 'l1' && kind !== 'l2') throw new Error(`unknown reconstruction loss "${String(kind)}" (expected l1 or l2)`);
  if (x.length !== xRec.length) throw new Error(`reconstruction error: ${x.length} values against ${xRec.length}`);
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const d = x[i] - xRec[i];
    s += kind === 'l1' ? Math.abs(d) : d * d;
  }
  return s / x.length;
}

/** taming's adopt_weight: the GAN factor is 0 before `discStart`. */
export function discFactorAt(step: number, discStart: number, factor = 1): number {
  return step < discStart ? 0 : factor;
}
