// The V2L tokenizer network: the counterpart of the reference's VQModel_LLaMA (without the frozen CLIP
// tower and LPIPS, which live behind their own interfaces). Images in and out are NCHW in [-1, 1], as in
// PyTorch; inside, everything runs NHWC, the layout tfjs convolves fastest.
//
//   encode:  image -> encoder -> quant_conv -> L2 norm per position -> local quantizer against the projected
//            LLM codebook (codebook_projection(tok_embeddings)) -> straight-through zq, indices, VQ loss
//   global:  CLIP image embedding -> L2 norm -> k nearest rows of tok_embeddings_global (nearest first)
//   decode:  zq -> post_quant_conv -> decoder (cross-attending to the global embeddings) -> image
import * as tf from '@tensorflow/tfjs-core';
import type { HostTensor } from '../io/dtypes.js';
import { downFactor, validateConfig, type V2LConfig } from './config.js';
import { ParamStore, toReference, type Layout } from './params.js';
import { conv2d, linear } from './layers.js';
import { l2NormalizeLast, toNCHW, toNHWC } from './ops.js';
import { encoder } from './encoder.js';
import { decoder } from './decoder.js';
import { nLayerDiscriminator, type BatchNormBuffers, type Discriminator } from './discriminator.js';
import { quantizeGlobal, quantizeLocal, type GlobalQuantized } from './quantize.js';
import type { CheckpointSwitch } from './checkpoint.js';
import { checkCodebookWidth, exportStateDict, loadStateDict, type LoadOptions } from './state-dict.js';

export interface Encoded {
  /** Encoder output before quant_conv, NCHW [B, zChannels, h, w]. */
  encoderOut: tf.Tensor4D;
  /** quant_conv output divided by its L2 norm over channels, NCHW [B, embedDim, h, w]. */
  z: tf.Tensor4D;
  /** Straight-through quantized z (value: the projected codebook rows; gradient: identity to z), NCHW. */
  zq: tf.Tensor4D;
  /** Local token ids, int32 [B, h, w]. */
  localIndices: tf.Tensor3D;
  /** Scalar VQ loss: mean((sg(zq) - z)^2) + 0.33 mean((zq - sg(z))^2). */
  vqLoss: tf.Scalar;
}

export interface Forwarded extends Encoded {
  /** Global token ids int32 [B, k] and their codebook rows [B, k, embedDim]. */
  globalIndices: tf.Tensor2D;
  globalEmbeddings: tf.Tensor3D;
  /** Decoded image, NCHW [B, outCh, H, W]. */
  reconstruction: tf.Tensor4D;
}

/**
 * Names of parameters that are never trained: the frozen LLM codebooks, as in the paper and the reference's
 * Run.sh (`--tuning_codebook 0`); only the projector in front of the local codebook learns.
 */
export const FROZEN_PARAMS = ['tok_embeddings.weight', 'tok_embeddings_global.weight'];

/**
 * The network. `params` maps every state-dict name to its tf.Variable; convolution weights are held as
 * [kh, kw, in, out] and linear weights as [in, out] (use `toReferenceLayout` to see a parameter or its
 * gradient in PyTorch layout). The codebooks are non-trainable variables; the discriminator's parameters
 * are trainable but listed apart (`discriminatorVariables`), so pass explicit variable lists to
 * tf.variableGrads.
 */
/**
 * Declares the generator's parameters (encoder, quant_conv, post_quant_conv, decoder, the projector and
 * the two frozen codebooks) in `p`, in state-dict order; returns the tfjs forwards of encoder and decoder.
 * Declaring runs no tensor op, so `generatorShapes` needs no backend.
 */
function declareGenerator(p: ParamStore, c: V2LConfig, ckpt: CheckpointSwitch): { enc: (x: tf.Tensor4D) => tf.Tensor4D; dec: (z: tf.Tensor4D, g: tf.Tensor3D) => tf.Tensor4D } {
  const enc = encoder(p, c, 'encoder', ckpt);
  p.conv('quant_conv', c.zChannels, c.embedDim, 1);
  p.conv('post_quant_conv', c.embedDim, c.zChannels, 1);
  const dec = decoder(p, c, 'decoder', ckpt);
  // The projector is initialised N(0, dim^-1/2) in the reference; its bias keeps Linear's default.
  p.linear('codebook_projection', c.embedDim, c.embedDim, { weightInit: { kind: 'normal', mean: 0, std: c.embedDim ** -0.5 } });
  // Stand-in codebooks until real ones are loaded: unit rows (like the CLIP text embeddings of the
  // local codebook) and unnormalised Gaussian rows for the global one.
  p.declare({ name: 'tok_embeddings.weight', refShape: [c.nLocal, c.embedDim], layout: 'plain', trainable: false, init: { kind: 'unitRows' } });
  p.declare({ name: 'tok_embeddings_global.weight', refShape: [c.nGlobal, c.embedDim], layout: 'plain', trainable: false, init: { kind: 'normal', mean: 0, std: c.embedDim ** -0.5 } });
  return { enc, dec };
}

/**
 * The generator's state-dict names and PyTorch shapes for a configuration (no discriminator), with no
 * tensor backend: what inference checks a weights file against before exporting it to ONNX.
 */
export function generatorShapes(config: V2LConfig): Map<string, number[]> {
  const p = new ParamStore();
  declareGenerator(p, validateConfig({ ...config, chMult: [...config.chMult], attnResolutions: [...config.attnResolutions] }), { enabled: false });
  return new Map([...p.specs].map(([name, spec]) => [name, spec.refShape]));
}

export class V2LNetwork {
  readonly config: V2LConfig;
  private readonly store = new ParamStore();
  private readonly bns = new Map<string, BatchNormBuffers>();
  private readonly enc: (x: tf.Tensor4D) => tf.Tensor4D;
  private readonly dec: (z: tf.Tensor4D, g: tf.Tensor3D) => tf.Tensor4D;
  private readonly disc: Discriminator;
  private frozenT = new Map<string, tf.Tensor2D>();
  private projectedCache: tf.Tensor2D | null = null;
  private cacheProjection = false;
  private readonly ckpt: CheckpointSwitch = { enabled: false };

  /**
   * Builds the network with PyTorch-default random weights from `seed` (codebooks: seeded stand-ins), or,
   * with `init: 'zeros'`, all zeros (fast; for a network whose state dict is loaded next).
   */
  constructor(config: V2LConfig, opts: { seed?: number; init?: 'random' | 'zeros'; gradientCheckpointing?: boolean } = {}) {
    this.config = validateConfig({ ...config, chMult: [...config.chMult], attnResolutions: [...config.attnResolutions] });
    const c = this.config;
    const p = this.store;
    this.ckpt.enabled = opts.gradientCheckpointing ?? false;
    ({ enc: this.enc, dec: this.dec } = declareGenerator(p, c, this.ckpt));
    this.disc = nLayerDiscriminator(p, this.bns, 'discriminator', c.outCh, c.discNdf, c.discLayers);
    p.materialise(opts.init === 'zeros' ? null : opts.seed ?? 0);
  }

  /**
   * Gradient checkpointing of the encoder's and decoder's blocks (see ./checkpoint.ts): under a gradient
   * tape each block keeps only its input and is run again in the backward pass. Same values and gradients;
   * training memory drops to about the block inputs, for roughly one more forward pass of time.
   */
  setGradientCheckpointing(enabled: boolean): void {
    this.ckpt.enabled = enabled;
  }

  get gradientCheckpointing(): boolean {
    return this.ckpt.enabled;
  }

  /** Every parameter by state-dict name (internal layouts; see the class comment). */
  get params(): ReadonlyMap<string, tf.Variable> {
    return this.store.vars;
  }

  /** BatchNorm buffers by layer name (`discriminator.main.3`). */
  get batchNorms(): ReadonlyMap<string, BatchNormBuffers> {
    return this.bns;
  }

  /** Trainable generator variables: encoder, quant_conv, codebook_projection, post_quant_conv, decoder. */
  generatorVariables(): tf.Variable[] {
    return [...this.store.vars].filter(([k, v]) => v.trainable && !k.startsWith('discriminator.')).map(([, v]) => v);
  }

  /** Trainable discriminator variables. */
  discriminatorVariables(): tf.Variable[] {
    return [...this.store.vars].filter(([k]) => k.startsWith('discriminator.')).map(([, v]) => v);
  }

  /** The layout kind of a parameter (how it is stored inside). */
  layoutOf(name: string): Layout {
    const spec = this.store.specs.get(name);
    if (!spec) throw new Error(`unknown parameter ${name}`);
    return spec.layout;
  }

  /** A parameter-shaped tensor (the parameter or its gradient) in PyTorch layout (a new tensor). */
  toReferenceLayout(name: string, t: tf.Tensor): tf.Tensor {
    return toReference(this.layoutOf(name), t);
  }

  /** Loads a state dict (PyTorch names and layouts); see LoadOptions. Throws naming every bad key. */
  loadStateDict(sd: Map<string, HostTensor>, opts?: LoadOptions): void {
    loadStateDict(this.store, this.bns, this.config.embedDim, sd, opts);
    this.invalidateCaches();
    this.config.nLocal = this.store.get('tok_embeddings.weight').shape[0];
    this.config.nGlobal = this.store.get('tok_embeddings_global.weight').shape[0];
  }

  /** Replaces the frozen codebooks (e.g. from the reference's separate codebook files); width is checked first. */
  setCodebooks(books: { local?: HostTensor; global?: HostTensor }): void {
    const sd = new Map<string, HostTensor>();
    if (books.local) sd.set('tok_embeddings.weight', books.local);
    if (books.global) sd.set('tok_embeddings_global.weight', books.global);
    for (const [k, t] of sd) checkCodebookWidth(k, t, this.config.embedDim);
    this.loadStateDict(sd, { optionalPrefixes: [''] });
  }

  /** The state dict in PyTorch names and layouts (BatchNorm `num_batches_tracked` as int64 scalars). */
  stateDict(): Map<string, HostTensor> {
    return exportStateDict(this.store, this.bns);
  }

  /**
   * Keep the projected local codebook between calls (inference, where the projector does not change).
   * Off by default: training must see the current projector on every step.
   */
  useProjectedCodebookCache(enabled: boolean): void {
    this.cacheProjection = enabled;
    if (!enabled) {
      this.projectedCache?.dispose();
      this.projectedCache = null;
    }
  }

  /**
   * The projected local codebook codebook_projection(tok_embeddings), [nLocal, embedDim] (on the tape);
   * rows L2-normalised with `cosineCodes`.
   */
  projectedCodebook(): tf.Tensor2D {
    return this.projectRows(this.store.get('tok_embeddings.weight') as tf.Tensor2D);
  }

  /** Local codebook rows [n, embedDim] -> the codes the quantizer compares with z and the decoder receives. */
  projectRows(rows: tf.Tensor2D): tf.Tensor2D {
    const p = linear(this.store, 'codebook_projection', rows) as tf.Tensor2D;
    return this.config.cosineCodes ? l2NormalizeLast(p) : p;
  }

  /**
   * encode() on NCHW images in [-1, 1]. `codebookTermWeight`: weight of the codebook (projector) term of
   * the VQ loss (default the reference's 0.33).
   */
  encode(images: tf.Tensor4D, opts: { codebookTermWeight?: number } = {}): Encoded {
    this.checkImages(images);
    const x = toNHWC(images);
    const encOut = this.enc(x);
    const z = l2NormalizeLast(conv2d(this.store, 'quant_conv', encOut));
    const [b, h, w, d] = z.shape;
    const q = quantizeLocal(tf.reshape(z, [b * h * w, d]), this.store.get('tok_embeddings.weight') as tf.Tensor2D,
      () => this.projectedCodebookT(), (rows) => this.projectRows(rows), opts.codebookTermWeight);
    const localIndices = tf.reshape(q.indices, [b, h, w]) as tf.Tensor3D;
    q.indices.dispose();
    return {
      encoderOut: toNCHW(encOut),
      z: toNCHW(z),
      zq: toNCHW(tf.reshape(q.zq, [b, h, w, d])),
      localIndices,
      vqLoss: q.vqLoss,
    };
  }

  /** The k global tokens of each CLIP image embedding [B, embedDim] (normalised here), nearest first. */
  globalTokens(clipImageEmbeds: tf.Tensor2D, k: number): GlobalQuantized {
    const g = this.store.get('tok_embeddings_global.weight') as tf.Tensor2D;
    return quantizeGlobal(clipImageEmbeds, g, this.frozenTransposed('tok_embeddings_global.weight'), k);
  }

  /**
   * Decodes quantized features (NCHW [B, embedDim, h, w], e.g. `encode(...).zq`) or local token ids
   * (int32 [B, h, w]) with the global embeddings [B, k, embedDim] into NCHW images.
   */
  decode(zqOrIndices: tf.Tensor4D | tf.Tensor3D, globalEmbeddings: tf.Tensor3D): tf.Tensor4D {
    let zq: tf.Tensor4D;
    if (zqOrIndices.rank === 3) {
      const [b, h, w] = zqOrIndices.shape;
      const n = this.store.get('tok_embeddings.weight').shape[0];
      const ids = zqOrIndices.dataSync();
      for (const id of ids) if (!Number.isInteger(id) || id < 0 || id >= n) throw new Error(`decode: local token id ${id} is outside the codebook [0, ${n})`);
      const rows = tf.gather(this.store.get('tok_embeddings.weight'), tf.reshape(tf.cast(zqOrIndices, 'int32'), [-1]));
      zq = tf.reshape(this.projectRows(rows as tf.Tensor2D), [b, h, w, this.config.embedDim]) as tf.Tensor4D;
    } else {
      if (zqOrIndices.shape[1] !== this.config.embedDim) throw new Error(`decode: features have ${zqOrIndices.shape[1]} channels, the network expects ${this.config.embedDim}`);
      zq = toNHWC(zqOrIndices as tf.Tensor4D);
    }
    return toNCHW(this.decodeNHWC(zq, globalEmbeddings));
  }

  /** A frozen codebook's rows as a host array ([nLocal or nGlobal, embedDim], row-major). */
  codebookRows(which: 'local' | 'global'): Float32Array {
    return this.store.get(which === 'local' ? 'tok_embeddings.weight' : 'tok_embeddings_global.weight').dataSync() as Float32Array;
  }

  /**
   * Everything a training step needs: encode, global tokens (k per image), decode of the straight-through
   * zq. `unquantized`: decode z itself instead (a plain autoencoder; the warm-up before quantisation of
   * `v2l train --ae-warmup`); the indices and VQ loss are still computed.
   */
  forward(images: tf.Tensor4D, clipImageEmbeds: tf.Tensor2D, k: number, opts: { codebookTermWeight?: number; unquantized?: boolean } = {}): Forwarded {
    if (clipImageEmbeds.shape[0] !== images.shape[0]) throw new Error(`forward: ${images.shape[0]} images but ${clipImageEmbeds.shape[0]} CLIP embeddings`);
    const e = this.encode(images, opts);
    const gq = this.globalTokens(clipImageEmbeds, k);
    const reconstruction = toNCHW(this.decodeNHWC(toNHWC(opts.unquantized ? e.z : e.zq), gq.embeddings));
    return { ...e, globalIndices: gq.indices, globalEmbeddings: gq.embeddings, reconstruction };
  }

  /** PatchGAN logits, NCHW [B, 1, h', w']. `training` uses batch statistics and updates the running ones. */
  discriminator(images: tf.Tensor4D, opts: { training: boolean }): tf.Tensor4D {
    if (images.rank !== 4 || images.shape[1] !== this.config.outCh) throw new Error(`discriminator: expected NCHW images with ${this.config.outCh} channels, got [${images.shape}]`);
    return toNCHW(this.disc(toNHWC(images), opts.training));
  }

  dispose(): void {
    this.invalidateCaches();
    this.store.dispose();
    for (const b of this.bns.values()) {
      b.runningMean.dispose();
      b.runningVar.dispose();
    }
  }

  private decodeNHWC(zq: tf.Tensor4D, g: tf.Tensor3D): tf.Tensor4D {
    if (g.rank !== 3 || g.shape[2] !== this.config.embedDim) throw new Error(`decode: global embeddings must be [B, k, ${this.config.embedDim}], got [${g.shape}]`);
    return this.dec(conv2d(this.store, 'post_quant_conv', zq), g);
  }

  private checkImages(images: tf.Tensor4D): void {
    const f = downFactor(this.config);
    if (images.rank !== 4 || images.shape[1] !== this.config.inChannels || images.shape[2] % f !== 0 || images.shape[3] % f !== 0) {
      throw new Error(`encode: expected NCHW images [B, ${this.config.inChannels}, H, W] with H and W multiples of ${f}, got [${images.shape}]`);
    }
  }

  /** A frozen codebook transposed to [dim, N] (computed once: the fast right operand of the distance matMul). */
  private frozenTransposed(name: string): tf.Tensor2D {
    let t = this.frozenT.get(name);
    if (!t) {
      const v = this.store.get(name);
      t = tf.tidy(() => tf.keep(tf.transpose(v) as tf.Tensor2D));
      this.frozenT.set(name, t);
    }
    return t;
  }

  /** P(E)^T = W E^T + b (columns normalised with cosineCodes), [dim, nLocal], for the nearest-row search; cached only when enabled. */
  private projectedCodebookT(): tf.Tensor2D {
    if (this.projectedCache) return this.projectedCache;
    const tokT = this.frozenTransposed('tok_embeddings.weight');
    const t = tf.tidy(() => {
      const wRef = tf.transpose(this.store.get('codebook_projection.weight')) as tf.Tensor2D; // [out, in]
      const b = tf.reshape(this.store.get('codebook_projection.bias'), [-1, 1]);
      const pt = tf.add(tf.matMul(wRef, tokT), b) as tf.Tensor2D;
      return this.config.cosineCodes ? tf.div(pt, tf.sqrt(tf.sum(tf.square(pt), 0, true))) as tf.Tensor2D : pt;
    });
    if (this.cacheProjection) this.projectedCache = tf.keep(t);
    return t;
  }

  private invalidateCaches(): void {
    for (const t of this.frozenT.values()) t.dispose();
    this.frozenT.clear();
    this.projectedCache?.dispose();
    this.projectedCache = null;
  }
}
