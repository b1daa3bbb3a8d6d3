// The trainer's forward passes outside the step graphs, on the network's inference ONNX models
// (../network/v2l-model.onnx.ts, the tokenizer's engine): validation (local and global tokens, the
// decoder's reconstruction, the VQ loss's value) and the encoder outputs dead-code re-seeding draws from.
// The current parameters are exported at each call (validation and re-seeding run every tens of steps;
// the export and session take tens of milliseconds at the small preset, the forward itself the rest, and
// fed weights would change the results' last bits: onnxruntime lays out constant convolution weights
// for its blocked kernels). Re-seeding's nearest-centre search runs here too (CentreSearch).
// Node edge.
import { downFactor } from '../network/config.js';
import { CODEBOOK_TERM_WEIGHT } from '../network/quantize.js';
import { encoderModel, searchModel } from '../network/v2l-model.onnx.js';
import type { NetworkParams } from '../network/network-params.js';
import type { OrtRuntime, OrtSession } from '../tokenizer/onnx-engine.js';
import { createOnnxEngine, nodeRuntime, type OnnxEngineOptions } from '../tokenizer/onnx-node.js';
import { rerankNearestCentres, type CentreQuery, type NearestCentres } from './reseed.js';

export interface ValidationBatch {
  /** Decoded images, NCHW [n, outCh, size, size]. */
  reconstruction: Float32Array;
  /** Local token ids [n * h * w]. */
  localIds: Int32Array;
  /** The VQ loss's value, mean((zq - z)^2) (1 + 0.33), as the training graph's at the reference weight. */
  vqLoss: number;
}

/** A validation pass's engine: the network as it is now, exported once per pass. */
export class ValidationForward {
  private constructor(private readonly engine: Awaited<ReturnType<typeof createOnnxEngine>>, private readonly net: NetworkParams) {}

  static async open(net: NetworkParams, opts: OnnxEngineOptions): Promise<ValidationForward> {
    const sd = net.stateDict();
    for (const k of [...sd.keys()]) if (k.startsWith('discriminator.')) sd.delete(k);
    return new ValidationForward(await createOnnxEngine(net.config, sd, { ...opts, cacheDir: null }), net);
  }

  /** n images NCHW [-1, 1] of `size` px and their CLIP embeddings [n, dim], k global tokens each. */
  async run(images: Float32Array, clip: Float32Array, n: number, size: number, k: number): Promise<ValidationBatch> {
    const { z, h, w } = await this.engine.encodeZ(images, n, size, size);
    const rows = n * h * w;
    const { ids, distances } = await this.engine.localNearest(z, rows, 1);
    let se = 0;
    for (const d of distances) se += d;
    const gids = await this.engine.globalTokens(clip, n, k);
    const reconstruction = await this.engine.decode(ids, n, h, w, this.engine.globalEmbeddings(gids), k);
    return { reconstruction, localIds: ids, vqLoss: (1 + CODEBOOK_TERM_WEIGHT) * se / (rows * this.net.config.embedDim) };
  }

  close(): Promise<void> {
    return this.engine.dispose();
  }
}

/** Encoder outputs z (L2-normalised quant_conv output) of n images as rows [n * h * w, embedDim]. */
export async function encoderRows(net: NetworkParams, images: Float32Array, n: number, size: number, opts: OnnxEngineOptions): Promise<Float32Array> {
  const runtime = nodeRuntime(opts);
  const session = await runtime.createSession(encoderModel(net.config, net.stateDict()));
  try {
    const out = await session.run({ image: runtime.tensor('float32', images, [n, net.config.inChannels, size, size]) });
    const z = out.z.data as Float32Array;
    const h = size / downFactor(net.config);
    if (z.length !== n * h * h * net.config.embedDim) throw new Error(`internal: the encoder gave ${z.length} values for ${n} images`);
    return z;
  } finally {
    await session.release();
  }
}

/** Candidates per output the search keeps for the exact re-rank. */
const CENTRE_CANDIDATES = 8;

/**
 * The nearest live centre of each encoder output for re-seeding's `far` and `split` targets: a float32 GEMM
 * and TopK on onnxruntime (the inference search model, centres fed) give candidates, and
 * rerankNearestCentres (./reseed.ts) turns them into exactly the JavaScript scan's answer (outputs too close
 * to call are scanned in full). One session for the whole run.
 */
export class CentreSearch {
  private constructor(private readonly runtime: OrtRuntime, private readonly session: OrtSession, private readonly dim: number) {}

  static async open(dim: number, opts: OnnxEngineOptions): Promise<CentreSearch> {
    const runtime = nodeRuntime(opts);
    return new CentreSearch(runtime, await runtime.createSession(searchModel(dim)), dim);
  }

  async nearest({ centres, z }: CentreQuery): Promise<NearestCentres> {
    const dim = this.dim;
    const nc = centres.length / dim;
    const m = z.length / dim;
    const k = CENTRE_CANDIDATES;
    if (nc <= k || !m) return rerankNearestCentres(centres, z, dim, new Int32Array(0), new Float32Array(0), k);
    const sq = new Float32Array(nc);
    for (let c = 0; c < nc; c++) {
      let s = 0;
      for (let o = 0; o < dim; o++) s += centres[c * dim + o] ** 2;
      sq[c] = s;
    }
    const out = await this.session.run({
      z: this.runtime.tensor('float32', z, [m, dim]), codebook: this.runtime.tensor('float32', centres, [nc, dim]),
      codebook_sq: this.runtime.tensor('float32', sq, [nc]), k: this.runtime.tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
    });
    try {
      return rerankNearestCentres(centres, z, dim, out.indices.data as BigInt64Array, out.distances.data as Float32Array, k);
    } finally {
      for (const t of Object.values(out)) t.dispose();
    }
  }

  close(): Promise<void> {
    return this.session.release();
  }
}
