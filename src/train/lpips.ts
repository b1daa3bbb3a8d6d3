// LPIPS perceptual distance (Zhang et al. 2018, as used by taming-transformers' VQLPIPSWithDiscriminator):
// a frozen ImageNet backbone (VGG16 or AlexNet, torchvision weights supplied by the user), the input
// scaling layer, channel-normalised features at five depths, squared differences, the learned 1x1 linear
// heads of the LPIPS release (v0.1), a spatial average, and the sum over the five depths.
// No pretrained backbone exists on this machine: `standInBackbone` builds a seeded random-weight backbone,
// a STAND-IN that exercises the same computation (and is labelled so wherever it is used), not a
// perceptual metric. The computation is the ONNX emitter's (./lpips.onnx.ts); this file holds the layers,
// constants and weight checks. Portable; files are read in ./lpips-files.ts.
import type { HostTensor } from '../io/dtypes.js';
import { SeededRng } from '../util/random.js';

export type LpipsBackbone = 'vgg' | 'alex';

/** One layer of a torchvision `features` stack. */
type Layer =
  | { kind: 'conv'; index: number; cin: number; cout: number; k: number; stride: number; pad: number }
  | { kind: 'relu'; tap: boolean }
  | { kind: 'maxpool'; k: number; stride: number };

function vggLayers(): Layer[] {
  const L: Layer[] = [];
  let index = 0;
  let cin = 3;
  // torchvision vgg16 "D": numbers are conv widths, M is a 2x2 max pool; LPIPS taps relu1_2, relu2_2,
  // relu3_3, relu4_3, relu5_3 (the last ReLU before each pool, and the last one).
  const cfg: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512];
  cfg.forEach((c, i) => {
    if (c === 'M') {
      L.push({ kind: 'maxpool', k: 2, stride: 2 });
      index += 1;
      return;
    }
    L.push({ kind: 'conv', index, cin, cout: c, k: 3, stride: 1, pad: 1 });
    L.push({ kind: 'relu', tap: cfg[i + 1] === 'M' || i === cfg.length - 1 });
    index += 2;
    cin = c;
  });
  return L;
}

function alexLayers(): Layer[] {
  // torchvision alexnet.features up to relu5 (index 11); LPIPS taps every ReLU.
  return [
    { kind: 'conv', index: 0, cin: 3, cout: 64, k: 11, stride: 4, pad: 2 }, { kind: 'relu', tap: true },
    { kind: 'maxpool', k: 3, stride: 2 },
    { kind: 'conv', index: 3, cin: 64, cout: 192, k: 5, stride: 1, pad: 2 }, { kind: 'relu', tap: true },
    { kind: 'maxpool', k: 3, stride: 2 },
    { kind: 'conv', index: 6, cin: 192, cout: 384, k: 3, stride: 1, pad: 1 }, { kind: 'relu', tap: true },
    { kind: 'conv', index: 8, cin: 384, cout: 256, k: 3, stride: 1, pad: 1 }, { kind: 'relu', tap: true },
    { kind: 'conv', index: 10, cin: 256, cout: 256, k: 3, stride: 1, pad: 1 }, { kind: 'relu', tap: true },
  ];
}

export function backboneLayers(b: LpipsBackbone): Layer[] {
  if (b === 'vgg') return vggLayers();
  if (b === 'alex') return alexLayers();
  throw new Error(`unknown LPIPS backbone "${String(b)}" (expected vgg or alex)`);
}

/** Feature widths at the five LPIPS taps. */
export function tapChannels(b: LpipsBackbone): number[] {
  const out: number[] = [];
  let c = 3;
  for (const l of backboneLayers(b)) {
    if (l.kind === 'conv') c = l.cout;
    if (l.kind === 'relu' && l.tap) out.push(c);
  }
  return out;
}

/** The ScalingLayer of LPIPS: (x - shift) / scale, x in [-1, 1]. */
export const SHIFT = [-0.030, -0.088, -0.188];
export const SCALE = [0.458, 0.448, 0.450];

export interface LpipsOptions {
  backbone: LpipsBackbone;
  /** torchvision state dict of the backbone (`features.<i>.weight` / `.bias`). */
  backboneWeights: Map<string, HostTensor>;
  /** LPIPS linear heads (`lin<k>.model.1.weight`, [1, C, 1, 1]). */
  heads: Map<string, HostTensor>;
  /** True when the backbone is the random stand-in (reported in logs and metrics). */
  standIn?: boolean;
}

/**
 * The frozen LPIPS network's weights, checked against the backbone's layers: what the training step
 * graph (./lpips.onnx.ts) and the evaluation's LPIPS (../eval/lpips-alexnet.ts) emit.
 */
export class Lpips {
  readonly backbone: LpipsBackbone;
  readonly standIn: boolean;
  /** The backbone's and heads' tensors as given (torchvision / LPIPS names): the ONNX emitter's weights. */
  readonly tensors: Map<string, HostTensor>;

  constructor(o: LpipsOptions) {
    this.backbone = o.backbone;
    this.tensors = new Map([...o.backboneWeights, ...o.heads]);
    this.standIn = o.standIn ?? false;
    const what = this.standIn ? `stand-in ${o.backbone} backbone` : `${o.backbone} backbone weights`;
    for (const l of backboneLayers(o.backbone)) {
      if (l.kind !== 'conv') continue;
      const w = o.backboneWeights.get(`features.${l.index}.weight`);
      const b = o.backboneWeights.get(`features.${l.index}.bias`);
      if (!w || !b) throw new Error(`${what}: "features.${l.index}.weight"/".bias" missing (expected a torchvision ${o.backbone === 'vgg' ? 'vgg16' : 'alexnet'} state dict)`);
      const want = [l.cout, l.cin, l.k, l.k];
      if (w.shape.join(',') !== want.join(',')) throw new Error(`${what}: features.${l.index}.weight is [${w.shape}], expected [${want}]`);
      if (b.shape.join(',') !== String(l.cout)) throw new Error(`${what}: features.${l.index}.bias is [${b.shape}], expected [${l.cout}]`);
    }
    tapChannels(o.backbone).forEach((c, k) => {
      const key = `lin${k}.model.1.weight`;
      const h = o.heads.get(key);
      if (!h) throw new Error(`LPIPS heads: "${key}" missing (expected the LPIPS v0.1 ${o.backbone} weights)`);
      if (h.shape.join(',') !== `1,${c},1,1`) throw new Error(`LPIPS heads: ${key} is [${h.shape}], expected [1,${c},1,1] for ${o.backbone}`);
    });
  }
}

/**
 * A STAND-IN backbone: seeded random weights (He-normal convs, zero biases) in the torchvision layout.
 * It lets the LPIPS computation run end to end where no pretrained VGG16/AlexNet exists; its distances
 * are not perceptual.
 */
export function standInBackbone(backbone: LpipsBackbone, seed: number): Map<string, HostTensor> {
  const rng = new SeededRng((seed >>> 0) || 1);
  const out = new Map<string, HostTensor>();
  for (const l of backboneLayers(backbone)) {
    if (l.kind !== 'conv') continue;
    const n = l.cout * l.cin * l.k * l.k;
    const std = Math.sqrt(2 / (l.cin * l.k * l.k));
    const w = new Float32Array(n);
    for (let i = 0; i < n; i++) w[i] = std * rng.normal();
    out.set(`features.${l.index}.weight`, { dtype: 'F32', shape: [l.cout, l.cin, l.k, l.k], data: w });
    out.set(`features.${l.index}.bias`, { dtype: 'F32', shape: [l.cout], data: new Float32Array(l.cout) });
  }
  return out;
}
