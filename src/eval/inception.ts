// FID features: Inception-v3 pool3 (2048-d) from a user-supplied ONNX file, with pytorch-fid's
// preprocessing done here: images [3, H, W] in [0, 1] -> bilinear to 299x299 (align_corners false, no
// antialiasing: F.interpolate as pytorch-fid's InceptionV3(resize_input=True)) -> 2v - 1.
//
// ONNX contract (docs/evaluation.md gives the export lines from pytorch-fid's FID weights):
//   input  float32 [batch, 3, 299, 299] in [-1, 1]   (export with resize_input=False, normalize_input=False)
//   output float32 [batch, D] or [batch, D, 1, 1]     (pool3, D = 2048)
// The STAND-IN (writeStandInInception) has the same contract with random weights: FIDs computed with it
// are meaningless, and every report says so. Node edge (onnxruntime-node).
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { interpolateBilinear } from '../image/resample.js';
import { GraphBuilder } from '../models/clip/onnx-graph.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';

export const INCEPTION_SIZE = 299;
export const STAND_IN_INCEPTION = 'v2l-stand-in-inception';

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

/** Seeded normal samples (mulberry32 + Box-Muller). */
function gaussian(seed: number): (n: number, std: number) => Float32Array {
  let s = (seed ^ 0x85ebca6b) >>> 0;
  const u = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 1) / 4294967297;
  };
  return (n, std) => Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u()) * std);
}

/**
 * Writes the STAND-IN Inception (`inception.onnx` + `inception.json` marking it) into `dir`: a small
 * random-weight conv net with pytorch-fid's contract (input [B,3,299,299] in [-1,1], output `pool3`
 * [B, dim] of non-negative averages, as Inception's pool3 is). Its features mean nothing.
 */
export function writeStandInInception(dir: string, opts: { seed?: number; dim?: number } = {}): string {
  const seed = opts.seed ?? 0;
  const dim = opts.dim ?? 2048;
  const rand = gaussian(seed);
  const g = new GraphBuilder();
  // Three strided convs (299 -> 75 -> 38 -> 19), a 5x5 average pool (19 -> 3), flattened (288), a linear
  // map to `dim` and ReLU: non-negative features like pool3's, of full rank, at ~5M MACs per image.
  let x = 'images';
  let cin = 3;
  for (const [i, [cout, stride]] of [[8, 4], [16, 2], [32, 2]].entries()) {
    const w = g.weight(`conv${i}.weight`, [cout, cin, 3, 3], rand(cout * cin * 9, Math.sqrt(2 / (cin * 9))));
    const b = g.weight(`conv${i}.bias`, [cout], rand(cout, 0.05));
    x = g.op('Relu', [g.op('Conv', [x, w, b], { kernel_shape: [3, 3], strides: [stride, stride], pads: [1, 1, 1, 1] })]);
    cin = cout;
  }
  x = g.op('Flatten', [g.op('AveragePool', [x], { kernel_shape: [5, 5], strides: [5, 5] })], { axis: 1 });
  const w = g.weight('proj.weight', [cin * 9, dim], rand(cin * 9 * dim, Math.sqrt(2 / (cin * 9))));
  const b = g.weight('proj.bias', [dim], rand(dim, 0.05));
  g.op('Relu', [g.op('Add', [g.op('MatMul', [x, w]), b])], {}, 'pool3');
  const bytes = g.build('v2l_stand_in_inception', [{ name: 'images', type: 'float32', shape: ['batch', 3, INCEPTION_SIZE, INCEPTION_SIZE] }],
    [{ name: 'pool3', type: 'float32', shape: ['batch', dim] }], 'v2l STAND-IN Inception: random weights, FID with it is meaningless');
  const root = resolve(dir);
  writeFileAtomic(join(root, 'inception.onnx'), bytes);
  writeJsonAtomic(join(root, 'inception.json'), {
    name: STAND_IN_INCEPTION, v2l_stand_in: true, seed, dim,
    note: 'STAND-IN: random weights generated by v2l for tests and demos; FIDs computed with it are meaningless.',
  });
  return join(root, 'inception.onnx');
}
