// One generator training step as one ONNX graph, emitted from the network's own module definitions
// (src/network/*.onnx.ts, the same emitters inference uses) on a tape, and differentiated by src/grad:
//   inputs:  every trainable generator parameter (state-dict names, PyTorch layouts), `image` [B,C,H,W],
//            the frozen `codebook` [nLocal, dim] (and `global_codebook`, `clip` [B, dim] when the decoder
//            cross-attends), step scalars `vq_weight` (the VQ loss's weight this step) and `quantized`
//            (1: the decoder sees the straight-through zq; 0: z itself, the --ae-warmup autoencoder)
//   outputs: `loss`, `rec_loss`, `vq_loss`, `indices` (int64 [B*h*w], the chosen local codes), with
//            `trackZ` also `z_rows` [B*h*w, dim], and `grad.<name>` for every parameter.
// The loss is ./replica.ts' generator loss without the LPIPS and GAN terms: rec + vq_weight * L_VQ, with
// L_VQ = mean((sg(zq) - z)^2) + beta * mean((zq - sg(z))^2) and the straight-through z + sg(zq - z).
import type { HostTensor } from '../io/dtypes.js';
import { downFactor, hasCrossAttention, type V2LConfig } from '../network/config.js';
import { OnnxEmitter } from '../network/onnx.js';
import { conv2dOnnx } from '../network/layers.onnx.js';
import { l2NormalizeOnnx } from '../network/ops.onnx.js';
import { encoderOnnx } from '../network/encoder.onnx.js';
import { decoderOnnx } from '../network/decoder.onnx.js';
import { nearestRowsOnnx, projectRowsOnnx } from '../network/quantize.onnx.js';
import { CODEBOOK_TERM_WEIGHT } from '../network/quantize.js';
import { Tape } from '../grad/tape.js';
import { gradients } from '../grad/backward.js';
import type { ReconstructionLoss } from './losses.js';
import type { LpipsBackbone } from './lpips.js';
import { lpipsOnnx } from './lpips.onnx.js';
import { nearestWithUsageOnnx } from './usage-loss.onnx.js';
import { discriminatorOnnx, type BatchStats } from '../network/discriminator.onnx.js';

/** The decoder's last layer, where the adaptive GAN weight compares gradient norms. */
const LAST_LAYER = 'decoder.conv_out.weight';

export interface StepGraphOptions {
  batch: number;
  imageSize: number;
  kGlobal: number;
  recLoss: ReconstructionLoss;
  /** Weight of the VQ loss's codebook (projector) term (absent: the reference's 0.33). */
  vqBeta?: number;
  /** LPIPS with these weights (torchvision backbone + v0.1 heads, frozen) and weight; absent: none. */
  lpips?: { backbone: LpipsBackbone; tensors: ReadonlyMap<string, HostTensor>; weight: number };
  /**
   * The adversarial term (the discriminator's parameters are fed, not differentiated): g = -mean D(x^)
   * times the adaptive weight times the input `gan_factor`. Absent: none (before discStart).
   */
  gan?: { discWeight: number };
  /**
   * The code-usage entropy term (./usage-loss.onnx.ts), `weight` times it added to the loss from step 0, at
   * `temperature`; output `usage_loss`. Absent: none (the reference).
   */
  usage?: { weight: number; temperature: number };
  /** Also output the z rows (the k-means step of re-seeding sums them per code). */
  trackZ?: boolean;
  /**
   * Also output intermediate values the reference's parity file holds: `encoder_out`, `z` (NCHW),
   * `global_indices`, `global_embeddings`, `reconstruction`.
   */
  expose?: boolean;
}

export interface StepGraph {
  model: Uint8Array;
  /** The parameters fed and differentiated, in output order (`grad.<name>`). */
  params: string[];
}

/**
 * The emitter over a tape whose trainable parameters are graph inputs with gradients; the discriminator's
 * other parameters are inputs without (they change every step but the generator does not train them).
 */
function trainingEmitter(t: Tape, sd: ReadonlyMap<string, HostTensor>, trainable: Set<string>, fed: string[]): OnnxEmitter {
  const e = new OnnxEmitter(t, sd, (name, shape) => {
    if (trainable.has(name)) {
      fed.push(name);
      return t.input(name, shape, { grad: true });
    }
    return name.startsWith('discriminator.') && !/running_|num_batches/.test(name) ? t.input(name, shape) : null;
  });
  // (Numbers, as a variant of scripts/ab-train-step.ts may give them as strings.)
  if (stepOptions.winograd) e.trainWinograd = { minChannels: Number(stepOptions.winogradMinChannels), minSide: Number(stepOptions.winogradMinSide), recompute: stepOptions.winogradRecompute };
  return e;
}

/** The k nearest rows of `book` [n, dim] to `q` [m, dim] (the inference search, with its codebook in-graph). */
function nearest(e: OnnxEmitter, q: string, book: string, k: number): string {
  const bookT = e.op('Transpose', [book], { perm: [1, 0] });
  const sq = e.op('ReduceSum', [e.op('Mul', [book, book]), e.ints([1])], { keepdims: 0 });
  return nearestRowsOnnx(e, q, bookT, sq, e.ints([k]))[1];
}

/** The global tokens' embeddings [B, k, dim]: no gradient (CLIP and the codebook are frozen). */
function globalEmbeddings(t: Tape, e: OnnxEmitter, c: V2LConfig, o: StepGraphOptions): { ids: string; embeddings: string } {
  const book = t.input('global_codebook', [c.nGlobal, c.embedDim]);
  const clip = l2NormalizeOnnx(e, t.input('clip', [o.batch, c.embedDim]), 1);
  const ids = nearest(e, clip, book, o.kGlobal); // [B, k], nearest first
  return { ids, embeddings: e.op('Gather', [book, ids], { axis: 0 }) };
}

/**
 * How the chosen codes are projected (`auto`: see chosenCodes; the others for measurements); `winograd`:
 * the 3x3 stride-1 convolutions with at least `winogradMinChannels` channels in and out on planes of at
 * least `winogradMinSide` pixels by Winograd F(4x4, 3x3) (measured faster there, forward and backward:
 * docs/architecture.md, "Rule forms"; false: every convolution direct).
 */
export const stepOptions = { projectCodes: 'auto' as 'auto' | 'rows' | 'codebook', winograd: true, winogradMinChannels: 128, winogradMinSide: 32, winogradRecompute: true };

/**
 * The projected codes of the chosen `ids` (m of them), on the tape: the projector applied to the gathered
 * rows, or, when the codebook has fewer rows than the batch has positions (the `small` preset: 512 codes,
 * 2,048 positions), to the whole codebook before the gather (4x fewer FLOP forward and in the weight
 * gradient, whose rows are then summed per code by Gather's backward). Same values.
 */
function chosenCodes(e: OnnxEmitter, c: V2LConfig, codebook: string, ids: string, m: number): string {
  const whole = stepOptions.projectCodes === 'codebook' || (stepOptions.projectCodes === 'auto' && c.nLocal < m);
  return whole
    ? e.op('Gather', [projectRowsOnnx(e, c, codebook), ids], { axis: 0 })
    : projectRowsOnnx(e, c, e.op('Gather', [codebook, ids], { axis: 0 }));
}

/** L_VQ and the straight-through decoder input, on z rows [M, dim] and their chosen projected codes. */
function vqTerms(t: Tape, e: OnnxEmitter, z: string, zq: string, beta: number): { vq: string; st: string } {
  const mse = (a: string, b: string) => { const d = e.op('Sub', [a, b]); return e.op('ReduceMean', [e.op('Mul', [d, d])], { keepdims: 0 }); };
  const vq = beta === 0 && stepOptions.projectCodes === 'auto' ? mse(e.sg(zq), z) : e.op('Add', [mse(e.sg(zq), z), e.op('Mul', [e.scalar(beta), mse(zq, e.sg(z))])]);
  const quantized = t.input('quantized', []);
  const st = e.op('Add', [z, e.op('Mul', [quantized, e.sg(e.op('Sub', [zq, z]))])]);
  return { vq, st };
}

/** The adversarial part of the generator's loss: g = -mean D(x^) and the adaptive weight, detached. */
function ganTerms(t: Tape, e: OnnxEmitter, c: V2LConfig, o: StepGraphOptions, rec: string, nll: string): { g: string; dWeight: string; stats: BatchStats[] } {
  const stats: BatchStats[] = [];
  const logits = discriminatorOnnx(e, rec, [o.batch, c.outCh, o.imageSize, o.imageSize], c.discLayers, true, stats);
  const g = e.op('Neg', [e.op('ReduceMean', [logits], { keepdims: 0 })]);
  // |d nll / dW| / (|d g / dW| + 1e-4) at the decoder's last layer: two backward passes over the nodes
  // after W only, in the same graph (no nested tape); clamped to [0, 1e4], times discWeight, detached.
  const norm = (x: string) => e.op('Sqrt', [e.op('ReduceSum', [e.op('Mul', [x, x])], { keepdims: 0 })]);
  const [gn] = gradients(t, nll, [LAST_LAYER]);
  const [gg] = gradients(t, g, [LAST_LAYER]);
  const ratio = e.op('Div', [norm(gn), e.op('Add', [norm(gg), e.scalar(1e-4)])]);
  const dWeight = e.sg(e.op('Mul', [e.op('Clip', [ratio, e.scalar(0), e.scalar(1e4)]), e.scalar(o.gan!.discWeight)]));
  return { g, dWeight, stats };
}

/** The outputs of training-mode BatchNorm statistics, `bn.<pass>.<layer>.mean|var|count` (count: values per channel). */
function statOutputs(t: Tape, pass: string, stats: BatchStats[]): string[] {
  return stats.flatMap((s) => [t.output(`bn.${pass}.${s.name}.mean`, s.mean), t.output(`bn.${pass}.${s.name}.var`, s.variance),
    t.output(`bn.${pass}.${s.name}.count`, t.scalar('bn.count', s.count))]);
}

/**
 * The generator's step graph for configuration `c` (the state dict `sd` gives the parameter shapes; its
 * values are not used: parameters are inputs). `trainable`: the names differentiated.
 */
export function generatorStepGraph(c: V2LConfig, sd: ReadonlyMap<string, HostTensor>, trainable: Iterable<string>, o: StepGraphOptions): StepGraph {
  const t = new Tape();
  const params: string[] = [];
  const e = trainingEmitter(t, sd, new Set(trainable), params);
  const image = t.input('image', [o.batch, c.inChannels, o.imageSize, o.imageSize]);
  const [h, w] = [o.imageSize / downFactor(c), o.imageSize / downFactor(c)];
  const m = o.batch * h * w;
  const encoderOut = encoderOnnx(e, c, image);
  const z = l2NormalizeOnnx(e, conv2dOnnx(e, 'quant_conv', encoderOut), 1); // [B, dim, h, w]
  const zRows = e.op('Reshape', [e.op('Transpose', [z], { perm: [0, 2, 3, 1] }), e.ints([m, c.embedDim])]);
  const codebook = t.input('codebook', [c.nLocal, c.embedDim]);
  // The search compares with the current codes, projected once per step by projectionGraph (an input:
  // never differentiated; micro-batches share it).
  const projected = t.input('projected_codebook', [c.nLocal, c.embedDim]);
  // With the code-usage term the search's distances stay differentiable in z (one Gemm for both, same ids).
  const found = o.usage ? nearestWithUsageOnnx(e, zRows, projected, c.nLocal, o.usage.temperature) : null;
  const ids = e.op('Reshape', [found?.ids ?? nearest(e, e.sg(zRows), projected, 1), e.ints([m])]);
  const beta = o.vqBeta ?? CODEBOOK_TERM_WEIGHT;
  // Without the VQ loss's projector term (the robust recipe's beta 0) the chosen codes only enter under sg:
  // they are the fed projected rows, and the projector's gradient is zero with no pass spent on it.
  const fed = beta === 0 && stepOptions.projectCodes === 'auto';
  const zq = fed ? e.op('Gather', [projected, ids], { axis: 0 }) : chosenCodes(e, c, codebook, ids, m); // on the tape: the projector learns
  const { vq, st } = vqTerms(t, e, zRows, zq, fed ? 0 : beta);
  const decIn = e.op('Transpose', [e.op('Reshape', [st, e.ints([o.batch, h, w, c.embedDim])])], { perm: [0, 3, 1, 2] });
  const g = hasCrossAttention(c) ? globalEmbeddings(t, e, c, o) : null;
  const rec = decoderOnnx(e, c, conv2dOnnx(e, 'post_quant_conv', decIn), g?.embeddings ?? null);
  const diff = e.op('Sub', [image, rec]);
  const recLoss = e.op('ReduceMean', [o.recLoss === 'l1' ? e.op('Abs', [diff]) : e.op('Mul', [diff, diff])], { keepdims: 0 });
  const outs = [t.output('rec_loss', recLoss), t.output('vq_loss', vq), t.output('indices', ids)];
  let nll = recLoss;
  if (o.lpips) {
    const le = new OnnxEmitter(t, o.lpips.tensors);
    const p = e.op('ReduceMean', [lpipsOnnx(le, o.lpips.backbone, image, rec, o.batch)], { keepdims: 0 });
    outs.push(t.output('p_loss', p));
    nll = e.op('Add', [recLoss, e.op('Mul', [p, e.scalar(o.lpips.weight)])]);
  }
  let loss = e.op('Add', [nll, e.op('Mul', [t.input('vq_weight', []), vq])]);
  if (found && o.usage) {
    outs.push(t.output('usage_loss', found.usage));
    loss = e.op('Add', [loss, e.op('Mul', [found.usage, e.scalar(o.usage.weight)])]);
  }
  if (o.gan) {
    const gan = ganTerms(t, e, c, o, rec, nll);
    loss = e.op('Add', [loss, e.op('Mul', [gan.g, e.op('Mul', [gan.dWeight, t.input('gan_factor', [])])])]);
    outs.push(t.output('g_loss', gan.g), t.output('d_weight', gan.dWeight), t.output('reconstruction_out', rec), ...statOutputs(t, 'gen', gan.stats));
  }
  const grads = gradients(t, loss, params);
  outs.unshift(t.output('loss', loss));
  if (o.trackZ) outs.push(t.output('z_rows', zRows));
  if (o.expose) {
    const named: [string, string | undefined][] = [['encoder_out', encoderOut], ['z', z], ['global_indices', g?.ids], ['global_embeddings', g?.embeddings], ['reconstruction', rec]];
    for (const [name, v] of named) if (v) outs.push(t.output(name, v));
  }
  outs.push(...grads.map((gr, i) => t.output(`grad.${params[i]}`, gr)));
  return { model: t.build('v2l_generator_step', outs, 'v2l generator training step: forward, losses and gradients, emitted by v2l from its network definition'), params };
}

/** The projected local codebook from the fed projector: the step graph's `projected_codebook`, once per step. */
export function projectionGraph(c: V2LConfig, sd: ReadonlyMap<string, HostTensor>): StepGraph {
  const t = new Tape();
  const params: string[] = [];
  const e = new OnnxEmitter(t, sd, (name, shape) => (name.startsWith('codebook_projection.') ? (params.push(name), t.input(name, shape)) : null));
  const out = t.output('projected_codebook', projectRowsOnnx(e, c, t.input('codebook', [c.nLocal, c.embedDim])));
  return { model: t.build('v2l_codebook_projection', [out], 'v2l: the projected local codebook for the training step\'s search'), params };
}

/**
 * The discriminator's step graph: hinge loss of D(real) and D(fake) (each pass with its own batch
 * statistics, as two calls of the module), times `gan_factor`; outputs `d_loss`, `logits_real`,
 * `logits_fake` (means), the BatchNorm statistics of both passes and `grad.<name>` for its parameters.
 */
export function discriminatorStepGraph(c: V2LConfig, sd: ReadonlyMap<string, HostTensor>, o: { batch: number; imageSize: number }): StepGraph {
  const t = new Tape();
  const params: string[] = [];
  const e = trainingEmitter(t, sd, new Set([...sd.keys()].filter((k) => k.startsWith('discriminator.') && !/running_|num_batches/.test(k))), params);
  const shape = [o.batch, c.outCh, o.imageSize, o.imageSize];
  const real = t.input('real', shape);
  const fake = t.input('fake', shape);
  const [sr, sf]: BatchStats[][] = [[], []];
  const lr = discriminatorOnnx(e, real, shape, c.discLayers, true, sr);
  const lf = discriminatorOnnx(e, fake, shape, c.discLayers, true, sf);
  const mean = (x: string) => e.op('ReduceMean', [x], { keepdims: 0 });
  const hinge = (x: string) => mean(e.op('Relu', [x]));
  const d = e.op('Mul', [e.scalar(0.5), e.op('Add', [hinge(e.op('Sub', [e.scalar(1), lr])), hinge(e.op('Add', [e.scalar(1), lf]))])]);
  const loss = e.op('Mul', [d, t.input('gan_factor', [])]);
  const grads = gradients(t, loss, params);
  const outs = [t.output('d_loss', loss), t.output('logits_real', mean(lr)), t.output('logits_fake', mean(lf)), ...statOutputs(t, 'real', sr), ...statOutputs(t, 'fake', sf)];
  outs.push(...grads.map((gr, i) => t.output(`grad.${params[i]}`, gr)));
  return { model: t.build('v2l_discriminator_step', outs, 'v2l discriminator training step (hinge loss), emitted by v2l'), params };
}
