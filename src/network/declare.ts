// The network's parameters, declared once per module in the order the modules are built (which fixes the
// seeded initialisation): the generator (encoder, quant_conv, post_quant_conv, decoder, the projector, the
// two frozen codebooks) and the PatchGAN discriminator; the encoder's and decoder's blocks are those of
// ./blocks.ts, which the emitters emit. Names and shapes are the reference's state dict;
// the computation is the ONNX emitters' (`*.onnx.ts`), which read these tensors by name. Portable.
import { validateConfig, type V2LConfig } from './config.js';
import { decoderPlan, encoderPlan, type Plan } from './blocks.js';
import { ParamSpecs } from './param-specs.js';

function resnetBlock(p: ParamSpecs, prefix: string, cin: number, cout: number): void {
  p.norm(`${prefix}.norm1`, cin);
  p.conv(`${prefix}.conv1`, cin, cout, 3);
  p.norm(`${prefix}.norm2`, cout);
  p.conv(`${prefix}.conv2`, cout, cout, 3);
  if (cin !== cout) p.conv(`${prefix}.nin_shortcut`, cin, cout, 1);
}

function attnBlock(p: ParamSpecs, prefix: string, c: number): void {
  p.norm(`${prefix}.norm`, c);
  for (const k of ['q', 'k', 'v', 'proj_out']) p.conv(`${prefix}.${k}`, c, c, 1);
}

function crossAttention(p: ParamSpecs, prefix: string, queryDim: number, contextDim: number, heads: number, dimHead: number): void {
  const inner = heads * dimHead;
  p.linear(`${prefix}.to_q`, queryDim, inner, { bias: false });
  p.linear(`${prefix}.to_k`, contextDim, inner, { bias: false });
  p.linear(`${prefix}.to_v`, contextDim, inner, { bias: false });
  p.linear(`${prefix}.to_out.0`, inner, queryDim);
}

/** The parameters of an encoder or decoder plan (./blocks.ts), in its order. */
function declarePlan(p: ParamSpecs, c: V2LConfig, plan: Plan): void {
  p.conv(plan.convIn.prefix, plan.convIn.cin, plan.convIn.cout, 3);
  for (const b of plan.blocks) {
    if (b.kind === 'resnet') resnetBlock(p, b.prefix, b.cin, b.cout);
    else if (b.kind === 'attn') attnBlock(p, b.prefix, b.c);
    else if (b.kind === 'crossAttn') crossAttention(p, b.prefix, b.c, c.embedDim, c.crossAttnHeads, c.crossAttnDimHead);
    else p.conv(`${b.prefix}.conv`, b.c, b.c, 3); // Downsample (stride 2) and Upsample: one 3x3 conv
  }
  p.norm(plan.normOut.prefix, plan.normOut.c);
  p.conv(plan.convOut.prefix, plan.convOut.cin, plan.convOut.cout, 3);
}

/** The generator's parameters in state-dict order. */
export function declareGenerator(p: ParamSpecs, c: V2LConfig): void {
  declarePlan(p, c, encoderPlan(c));
  p.conv('quant_conv', c.zChannels, c.embedDim, 1);
  p.conv('post_quant_conv', c.embedDim, c.zChannels, 1);
  declarePlan(p, c, decoderPlan(c));
  // The projector is initialised N(0, dim^-1/2) in the reference; its bias keeps Linear's default.
  p.linear('codebook_projection', c.embedDim, c.embedDim, { weightInit: { kind: 'normal', mean: 0, std: c.embedDim ** -0.5 } });
  // Stand-in codebooks until real ones are loaded: unit rows (like the CLIP text embeddings of the
  // local codebook) and unnormalised Gaussian rows for the global one. Never trained (the paper's frozen
  // LLM codebooks; only the projector in front of the local one learns).
  p.declare({ name: 'tok_embeddings.weight', refShape: [c.nLocal, c.embedDim], layout: 'plain', trainable: false, init: { kind: 'unitRows' } });
  p.declare({ name: 'tok_embeddings_global.weight', refShape: [c.nGlobal, c.embedDim], layout: 'plain', trainable: false, init: { kind: 'normal', mean: 0, std: c.embedDim ** -0.5 } });
}

/**
 * taming's NLayerDiscriminator (PatchGAN): conv(4, stride 2) + LeakyReLU(0.2); per layer conv(4, stride 2,
 * no bias) + BatchNorm + LeakyReLU; conv(4, stride 1) + BatchNorm + LeakyReLU; conv(4, stride 1) to one
 * channel. Convs N(0, 0.02) as the reference's weights_init. Indices count the activations, as nn.Sequential's.
 */
export function declareDiscriminator(p: ParamSpecs, c: V2LConfig, prefix = 'discriminator'): void {
  const convInit = { kind: 'normal', mean: 0, std: 0.02 } as const;
  let idx = 0;
  const conv = (cin: number, cout: number, bias: boolean) => p.conv(`${prefix}.main.${idx++}`, cin, cout, 4, { bias, weightInit: convInit });
  const bn = (ch: number) => p.batchNorm(`${prefix}.main.${idx++}`, ch);
  const ndf = c.discNdf;
  conv(c.outCh, ndf, true);
  idx++; // LeakyReLU
  let mult = 1;
  for (let n = 1; n < c.discLayers; n++) {
    const prev = mult;
    mult = Math.min(2 ** n, 8);
    conv(ndf * prev, ndf * mult, false);
    bn(ndf * mult);
    idx++;
  }
  const prev = mult;
  mult = Math.min(2 ** c.discLayers, 8);
  conv(ndf * prev, ndf * mult, false);
  bn(ndf * mult);
  idx++;
  conv(ndf * mult, 1, true);
}

/**
 * Names of parameters that are never trained: the frozen LLM codebooks, as in the paper and the reference's
 * Run.sh (`--tuning_codebook 0`); only the projector in front of the local codebook learns.
 */
export const FROZEN_PARAMS = ['tok_embeddings.weight', 'tok_embeddings_global.weight'];

/** The whole network's declarations (generator, then discriminator). */
export function declareNetwork(c: V2LConfig): ParamSpecs {
  const p = new ParamSpecs();
  declareGenerator(p, c);
  declareDiscriminator(p, c);
  return p;
}

/**
 * The generator's state-dict names and PyTorch shapes for a configuration (no discriminator): what
 * inference checks a weights file against before exporting it to ONNX.
 */
export function generatorShapes(config: V2LConfig): Map<string, number[]> {
  const p = new ParamSpecs();
  declareGenerator(p, validateConfig({ ...config, chMult: [...config.chMult], attnResolutions: [...config.attnResolutions] }));
  return new Map([...p.specs].map(([name, spec]) => [name, spec.refShape]));
}
