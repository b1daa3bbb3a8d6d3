// The tokenizer's training losses, after taming-transformers' VQLPIPSWithDiscriminator as the V2L reference
// configures it:
//   generator:     L = nll + codebookWeight * L_VQ + d_weight * discFactor * g_loss
//                  nll = mean|x - x^| (or mean (x - x^)^2, the paper's form) + perceptualWeight * LPIPS(x, x^)
//                  g_loss = -mean D(x^)
//                  d_weight = clamp(|d nll/dW| / (|d g_loss/dW| + 1e-4), 0, 1e4) * discWeight,
//                  W = decoder.conv_out.weight (the decoder's last layer), treated as a constant
//   discriminator: discFactor * 0.5 * (mean relu(1 - D(x)) + mean relu(1 + D(sg(x^))))  (hinge)
// discFactor is 0 before `discStart` (the GAN terms are then skipped entirely). The VQ loss itself,
// mean((sg(zq)-z)^2) + 0.33 mean((zq-sg(z))^2), comes from the network. Portable: tfjs-core only.
import * as tf from '@tensorflow/tfjs-core';

export type ReconstructionLoss = 'l1' | 'l2';

/** Mean absolute (reference) or squared (paper) pixel error. */
export function reconstructionLoss(x: tf.Tensor, xRec: tf.Tensor, kind: ReconstructionLoss): tf.Scalar {
  return tf.tidy(() => {
    const d = tf.sub(x, xRec);
    if (kind === 'l1') return tf.mean(tf.abs(d));
    if (kind === 'l2') return tf.mean(tf.square(d));
    throw new Error(`unknown reconstruction loss "${String(kind)}" (expected l1 or l2)`);
  });
}

/** Hinge loss of the discriminator: 0.5 * (mean relu(1 - real) + mean relu(1 + fake)). */
export function hingeDLoss(logitsReal: tf.Tensor, logitsFake: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mul(0.5, tf.add(tf.mean(tf.relu(tf.sub(1, logitsReal))), tf.mean(tf.relu(tf.add(1, logitsFake))))));
}

/** Generator's adversarial loss: -mean D(x^). */
export function generatorLoss(logitsFake: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(logitsFake)) as tf.Scalar;
}

/** taming's adopt_weight: the GAN factor is 0 before `discStart`. */
export function discFactorAt(step: number, discStart: number, factor = 1): number {
  return step < discStart ? 0 : factor;
}

/**
 * The adaptive weight of the GAN term: the ratio of the gradient norms of the reconstruction objective and
 * of the generator loss at the last layer `lastLayer`, clamped to [0, 1e4], times `discWeight`. Call it
 * inside the tf.variableGrads function that computes the generator loss (both losses must be recorded on
 * the active tape); the result is a plain number, i.e. detached, as in the reference.
 */
export function adaptiveWeight(nll: tf.Scalar, gLoss: tf.Scalar, lastLayer: tf.Variable, discWeight: number): number {
  const norm = (y: tf.Scalar) => {
    const { grads } = tf.variableGrads(() => y, [lastLayer]);
    const g = Object.values(grads)[0];
    if (!g) throw new Error('adaptive weight: the loss does not depend on the decoder\'s last layer');
    const n = tf.tidy(() => tf.norm(g).dataSync()[0]);
    g.dispose();
    return n;
  };
  const a = norm(nll);
  const b = norm(gLoss);
  const w = Math.min(Math.max(a / (b + 1e-4), 0), 1e4);
  return w * discWeight;
}
