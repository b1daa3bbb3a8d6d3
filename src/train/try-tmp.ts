import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend.js';
import { V2LNetwork } from '../network/v2l-model.js';
import { Replica } from './replica.js';
import { loadLpips } from './lpips-files.js';
const be = await initBackend(process.argv[2] ?? 'wasm');
const cfg = { ch: 32, chMult: [1, 2], numResBlocks: 1, resolution: 16, attnResolutions: [], inChannels: 3, outCh: 3, zChannels: 32, embedDim: 64, nLocal: 128, nGlobal: 32, crossAttnHeads: 2, crossAttnDimHead: 32, discLayers: 2, discNdf: 16 };
const net = new V2LNetwork(cfg, { seed: 1 });
const lp = await loadLpips({ backbone: 'alex', backboneWeights: 'stand-in', heads: '/work/shared/models/lpips/v0.1_json/alex.json' });
const rep = new Replica(net, lp, { recLoss: 'l1', codebookWeight: 1, perceptualWeight: 0.1, discWeight: 0.75, discStart: 3, discFactor: 1, kGlobal: 5 },
  { lr: 1e-3, discLr: 1e-3, beta1: 0.5, beta2: 0.9, eps: 1e-7, warmupSteps: 2, totalSteps: 10, minLr: 0, clipGrad: 0 });
const x = tf.randomUniform([4, 3, 32, 32], -1, 1, 'float32', 1) as tf.Tensor4D;
const c = tf.randomNormal([4, 64], 0, 1, 'float32', 2) as tf.Tensor2D;
const frozen0 = net.params.get('tok_embeddings.weight')!.dataSync().slice();
for (let s = 0; s < 8; s++) {
  const t0 = Date.now();
  const g = rep.gradients(x, c, s);
  const r = rep.apply(g.gen, g.disc, s);
  console.log(s, JSON.stringify(g.terms), r.lr, Date.now() - t0, 'ms', tf.memory().numTensors);
}
const frozen1 = net.params.get('tok_embeddings.weight')!.dataSync();
console.log('frozen same', frozen0.every((v, i) => v === frozen1[i]), be);
