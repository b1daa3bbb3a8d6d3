// The code-usage (entropy) term of the training loss, against the few-codes-win-everything regime of the
// `small` preset (docs/training.md, issue 16): with the soft assignment q(z) = softmax(-d(z, e_j) / T) of
// each encoder output z over the current projected codes e_j,
//   usage = mean_z H(q(z)) - H(mean_z q(z))
// (the entropy penalty of MAGVIT-v2, Yu et al. 2024, after Jansen et al. 2019): minimising it makes each
// output pick one code firmly (first term) while the batch as a whole spreads over all codes (second
// term). The codes are the step's fed `projected_codebook` (no gradient: the projector moves only by
// re-seeding in the robust recipe), so the term moves the encoder only.
import type { OnnxEmitter } from '../network/onnx.js';

/**
 * Default temperature, in squared-distance units (taming-transformers' entropy loss uses 0.01 on the same
 * scale); unit-norm codes and outputs are 2 apart at most.
 */
export const USAGE_TEMPERATURE = 0.01;

/** Added to the probabilities before the logarithm: 0 log 0 is read as 0. */
const LOG_FLOOR = 1e-8;

/** -sum p log p over the last axis of `p` [.., n] (`n` its length), averaged over the other axes. */
function meanEntropy(e: OnnxEmitter, p: string, n: number): string {
  const plogp = e.op('Mul', [p, e.op('Log', [e.op('Add', [p, e.scalar(LOG_FLOOR)])])]);
  return e.op('Mul', [e.op('ReduceMean', [plogp], { keepdims: 0 }), e.scalar(-n)]);
}

/**
 * The usage term from the partial distances `partial` = |e|^2 - 2 z.e [m, n] (the search's Gemm output)
 * at `temperature` (in units of the squared distance d = |z - e|^2): a scalar on the tape.
 */
export function codeUsageOnnx(e: OnnxEmitter, partial: string, n: number, temperature: number): string {
  // -d / T = -(partial + |z|^2) / T; |z|^2 is the same for every code of a row, so softmax drops it.
  const q = e.op('Softmax', [e.op('Mul', [partial, e.scalar(-1 / temperature)])], { axis: 1 });
  const perRow = meanEntropy(e, q, n);
  const batch = meanEntropy(e, e.op('ReduceMean', [q], { axes: [0], keepdims: 0 }), n);
  return e.op('Sub', [perRow, batch]);
}

/**
 * The nearest of `codes` [n, dim] (constant) to each z row [m, dim] and the usage term, from one Gemm: the
 * partial distances are the search's own (nearestRowsOnnx: the same Gemm and TopK, so the same ids), kept
 * differentiable in z for the term. Returns int64 ids [m, 1] and the scalar term.
 */
export function nearestWithUsageOnnx(e: OnnxEmitter, z: string, codes: string, n: number, temperature: number): { ids: string; usage: string } {
  const codesT = e.op('Transpose', [codes], { perm: [1, 0] });
  const sq = e.op('ReduceSum', [e.op('Mul', [codes, codes]), e.ints([1])], { keepdims: 0 });
  const partial = e.op('Gemm', [z, codesT, sq], { alpha: { float: -2 }, beta: { float: 1 } });
  const ids = e.g.opN('TopK', [e.sg(partial), e.ints([1])], 2, { axis: 1, largest: 0, sorted: 1 })[1];
  return { ids, usage: codeUsageOnnx(e, partial, n, temperature) };
}
