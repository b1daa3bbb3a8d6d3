// The LPIPS network of the evaluations: v0.1 linear heads on AlexNet, run on onnxruntime from the ONNX
// form of src/train/lpips.ts (`lpipsOnnx`, the one the training graphs use; `lpips-alexnet.test.ts` checks
// it against the tfjs LPIPS). The AlexNet weights come from a torchvision state dict (.pth /
// .safetensors), an ONNX export of torchvision's AlexNet (its initializers are read; the graph is not
// run), or 'stand-in' (random weights; distances meaningless). Node edge.
import { readFileSync } from 'node:fs';
import type { HostTensor } from '../io/dtypes.js';
import { GraphBuilder } from '../onnx/graph.js';
import { OnnxEmitter } from '../network/onnx.js';
import { backboneLayers, standInBackbone, tapChannels } from '../train/lpips.js';
import { lpipsOnnx } from '../train/lpips.onnx.js';
import { readBackboneWeights, readLpipsHeads } from '../train/lpips-files.js';
import type { OrtRuntime, OrtSession } from '../tokenizer/onnx-engine.js';

/** LPIPS (AlexNet, v0.1 heads) on onnxruntime: one session per batch shape, kept. */
export class EvalLpips {
  private readonly sessions = new Map<string, Promise<OrtSession>>();

  constructor(private readonly runtime: OrtRuntime, private readonly tensors: ReadonlyMap<string, HostTensor>, readonly standIn: boolean) {}

  /** LPIPS per image between NCHW images x0 and x1 ([n, 3, h, w] each, in [-1, 1]). */
  async distance(x0: Float32Array, x1: Float32Array, n: number, h: number, w: number): Promise<Float32Array> {
    if (x0.length !== n * 3 * h * w || x1.length !== x0.length) throw new Error(`LPIPS: expected two [${n}, 3, ${h}, ${w}] images, got ${x0.length} and ${x1.length} values`);
    const key = `${n}x${h}x${w}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = this.runtime.createSession(this.model(n, h, w));
      this.sessions.set(key, s);
    }
    const session = await s;
    const out = await session.run({ x0: this.runtime.tensor('float32', x0, [n, 3, h, w]), x1: this.runtime.tensor('float32', x1, [n, 3, h, w]) });
    const d = new Float32Array(out.lpips.data as Float32Array);
    out.lpips.dispose();
    return d;
  }

  private model(n: number, h: number, w: number): Uint8Array {
    const g = new GraphBuilder();
    g.op('Identity', [lpipsOnnx(new OnnxEmitter(g, this.tensors), 'alex', 'x0', 'x1', n)], {}, 'lpips');
    const image = (name: string) => ({ name, type: 'float32' as const, shape: [n, 3, h, w] });
    return g.build('v2l_eval_lpips', [image('x0'), image('x1')], [{ name: 'lpips', type: 'float32', shape: [n] }], 'LPIPS v0.1, AlexNet');
  }

  async dispose(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (s) => (await s).release()));
  }
}

/** Every backbone and head tensor LPIPS reads, with the shapes AlexNet and the v0.1 heads have. */
function checkWeights(weights: ReadonlyMap<string, HostTensor>, heads: ReadonlyMap<string, HostTensor>, what: string): void {
  for (const l of backboneLayers('alex')) {
    if (l.kind !== 'conv') continue;
    const wt = weights.get(`features.${l.index}.weight`);
    if (!wt || !weights.get(`features.${l.index}.bias`)) throw new Error(`${what}: "features.${l.index}.weight"/".bias" missing (expected a torchvision alexnet state dict)`);
    const want = [l.cout, l.cin, l.k, l.k];
    if (wt.shape.join(',') !== want.join(',')) throw new Error(`${what}: features.${l.index}.weight is [${wt.shape}], expected [${want}]`);
  }
  tapChannels('alex').forEach((c, k) => {
    const key = `lin${k}.model.1.weight`;
    const t = heads.get(key);
    if (!t) throw new Error(`LPIPS heads: "${key}" missing (expected the LPIPS v0.1 alex weights)`);
    if (t.shape.join(',') !== `1,${c},1,1`) throw new Error(`LPIPS heads: ${key} is [${t.shape}], expected [1,${c},1,1] for alex`);
  });
}

/** LPIPS (AlexNet, v0.1 heads) for the evaluations, on onnxruntime-node's CPU provider. */
export async function loadEvalLpips(backbone: string, heads: string): Promise<EvalLpips> {
  const h = await readLpipsHeads(heads);
  const standIn = backbone === 'stand-in';
  // onnx-proto is loaded only for an ONNX backbone.
  const weights = standIn
    ? standInBackbone('alex', 0)
    : backbone.toLowerCase().endsWith('.onnx')
      ? (await import('./alexnet-onnx.js')).readOnnxWeights(readFileSync(backbone), backbone)
      : await readBackboneWeights(backbone);
  checkWeights(weights, h, standIn ? 'stand-in alex backbone' : 'alex backbone weights');
  const { nodeRuntime } = await import('../tokenizer/onnx-node.js');
  return new EvalLpips(nodeRuntime(), new Map([...weights, ...h]), standIn);
}
