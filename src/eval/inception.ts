// FID features: Inception-v3 pool3 (2048-d) from a user-supplied ONNX file, with pytorch-fid's
// preprocessing done here: images [3, H, W] in [0, 1] -> bilinear to 299x299 (align_corners false, no
// antialiasing: F.interpolate as pytorch-fid's InceptionV3(resize_input=True)) -> 2v - 1.
//
// ONNX contract (docs/evaluation.md gives the export lines from pytorch-fid's FID weights):
//   input  float32 [batch, 3, 299, 299] in [-1, 1]   (export with resize_input=False, normalize_input=False)
//   output float32 [batch, D] or [batch, D, 1, 1]     (pool3, D = 2048)
// The STAND-IN (./stand-in-inception.ts) has the same contract with random weights: FIDs computed with it
// are meaningless, and every report says so. Node edge (onnxruntime-node).
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { interpolateBilinear } from '../image/resample.js';

export const INCEPTION_SIZE = 299;

/** pytorch-fid's input: [3, h, w] in [0, 1] -> [3, 299, 299] in [-1, 1]. */
export function inceptionInput(img: Float32Array, h: number, w: number): Float32Array {
  const r = h === INCEPTION_SIZE && w === INCEPTION_SIZE ? Float32Array.from(img) : interpolateBilinear(img, 3, h, w, INCEPTION_SIZE, INCEPTION_SIZE);
  for (let i = 0; i < r.length; i++) r[i] = 2 * r[i] - 1;
  return r;
}

export interface FeatureNet {
  readonly path: string;
  readonly dim: number;
  readonly isStandIn: boolean;
  /** sha256 of the ONNX file: ties a run's statistics to the network that made them. */
  readonly fingerprint: string;
  /** Features [n, dim] of n images, each [3, h, w] in [0, 1]. */
  features(images: readonly Float32Array[], h: number, w: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** Loads an Inception ONNX file (a folder with `inception.onnx` also works) and checks its contract. */
export async function loadInception(pathOrDir: string, opts: { threads?: number } = {}): Promise<FeatureNet> {
  let path = resolve(pathOrDir);
  if (existsSync(join(path, 'inception.onnx'))) path = join(path, 'inception.onnx');
  if (!existsSync(path)) throw new Error(`Inception network ${pathOrDir} not found (an ONNX file exported from pytorch-fid's weights; see docs/evaluation.md, or 'stand-in')`);
  const bytes = readFileSync(path);
  const fingerprint = createHash('sha256').update(bytes).digest('hex');
  const meta = join(path, '..', 'inception.json');
  let isStandIn = false;
  if (existsSync(meta)) {
    try {
      isStandIn = (JSON.parse(readFileSync(meta, 'utf8')) as { v2l_stand_in?: boolean }).v2l_stand_in === true;
    } catch {
      // a foreign json beside the file: not ours
    }
  }
  const ort: typeof Ort = await import('onnxruntime-node'); // loaded on first use
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: opts.threads ?? 1, interOpNumThreads: 1 });
  const input = session.inputNames[0];
  const output = session.outputNames[0];
  const probe = await session.run({ [input]: new ort.Tensor('float32', new Float32Array(3 * INCEPTION_SIZE * INCEPTION_SIZE), [1, 3, INCEPTION_SIZE, INCEPTION_SIZE]) });
  const dims = probe[output].dims;
  const dim = dims.slice(1).reduce((a, b) => a * b, 1);
  if (dims.length < 2 || dims.slice(2).some((d) => d !== 1)) throw new Error(`${path}: output "${output}" is [${dims}], expected [batch, D] or [batch, D, 1, 1] (pool3 features)`);
  if (!isStandIn && dim !== 2048) throw new Error(`${path}: pool3 features are ${dim}-d, pytorch-fid's Inception gives 2048`);
  return {
    path, dim, isStandIn, fingerprint,
    async features(images, h, w) {
      const per = 3 * INCEPTION_SIZE * INCEPTION_SIZE;
      const batch = new Float32Array(images.length * per);
      images.forEach((img, i) => batch.set(inceptionInput(img, h, w), i * per));
      const res = await session.run({ [input]: new ort.Tensor('float32', batch, [images.length, 3, INCEPTION_SIZE, INCEPTION_SIZE]) });
      return Float32Array.from(res[output].data as Float32Array);
    },
    async dispose() {
      await session.release();
    },
  };
}
