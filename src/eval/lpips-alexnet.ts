// The LPIPS network of the evaluations: v0.1 linear heads on AlexNet, computed by src/train/lpips.ts (one
// implementation with training). The AlexNet weights come from a torchvision state dict (.pth /
// .safetensors), an ONNX export of torchvision's AlexNet (its initializers are read; the graph is not
// run), or 'stand-in' (random weights; distances meaningless). Node edge.
import { readFileSync } from 'node:fs';
import { Lpips, standInBackbone } from '../train/lpips.js';
import { readBackboneWeights, readLpipsHeads } from '../train/lpips-files.js';

/** LPIPS (AlexNet, v0.1 heads) for the evaluations. */
export async function loadEvalLpips(backbone: string, heads: string): Promise<Lpips> {
  const h = await readLpipsHeads(heads);
  if (backbone === 'stand-in') return new Lpips({ backbone: 'alex', backboneWeights: standInBackbone('alex', 0), heads: h, standIn: true });
  // onnx-proto is loaded only for an ONNX backbone.
  const weights = backbone.toLowerCase().endsWith('.onnx')
    ? (await import('./alexnet-onnx.js')).readOnnxWeights(readFileSync(backbone), backbone)
    : await readBackboneWeights(backbone);
  return new Lpips({ backbone: 'alex', backboneWeights: weights, heads: h });
}
