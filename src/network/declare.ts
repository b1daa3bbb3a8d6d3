// The network's parameters, declared once per module in the order the modules are built (which fixes the
// seeded initialisation): the generator (encoder, quant_conv, post_quant_conv, decoder, the projector, the
// two frozen codebooks) and the PatchGAN discriminator. Names and shapes are the reference's state dict;
// the computation is the ONNX emitters' (`*.onnx.ts`), which read these tensors by name. Portable.
import { blockIn as midWidth, hasCrossAttention, validateConfig, type V2LConfig } from './config.js';
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

function encoder(p: ParamSpecs, c: V2LConfig, prefix = 'encoder'): void {
  p.conv(`${prefix}.conv_in`, c.inChannels, c.ch, 3);
  const inMult = [1, ...c.chMult];
  let res = c.resolution;
  let blockIn = c.ch;
  for (let level = 0; level < c.chMult.length; level++) {
    blockIn = c.ch * inMult[level];
    const blockOut = c.ch * c.chMult[level];
    for (let i = 0; i < c.numResBlocks; i++) {
      resnetBlock(p, `${prefix}.down.${level}.block.${i}`, blockIn, blockOut);
      blockIn = blockOut;
      if (c.attnResolutions.includes(res)) attnBlock(p, `${prefix}.down.${level}.attn.${i}`, blockIn);
    }
    if (level !== c.chMult.length - 1) {
      p.conv(`${prefix}.down.${level}.downsample.conv`, blockIn, blockIn, 3);
      res = Math.floor(res / 2);
    }
  }
  resnetBlock(p, `${prefix}.mid.block_1`, blockIn, blockIn);
  attnBlock(p, `${prefix}.mid.attn_1`, blockIn);
  resnetBlock(p, `${prefix}.mid.block_2`, blockIn, blockIn);
  p.norm(`${prefix}.norm_out`, blockIn);
  p.conv(`${prefix}.conv_out`, blockIn, c.zChannels, 3);
}

function decoder(p: ParamSpecs, c: V2LConfig, prefix = 'decoder'): void {
  const levels = c.chMult.length;
  let blockIn = midWidth(c);
  let res = Math.floor(c.resolution / 2 ** (levels - 1));
  p.conv(`${prefix}.conv_in`, c.zChannels, blockIn, 3);
  resnetBlock(p, `${prefix}.mid.block_1`, blockIn, blockIn);
  attnBlock(p, `${prefix}.mid.attn_1`, blockIn);
  if (hasCrossAttention(c)) crossAttention(p, `${prefix}.mid.cross_attn_1`, blockIn, c.embedDim, c.crossAttnHeads, c.crossAttnDimHead);
  resnetBlock(p, `${prefix}.mid.block_2`, blockIn, blockIn);
  for (let level = levels - 1; level >= 0; level--) {
    const blockOut = c.ch * c.chMult[level];
    for (let i = 0; i < c.numResBlocks + 1; i++) {
      resnetBlock(p, `${prefix}.up.${level}.block.${i}`, blockIn, blockOut);
      blockIn = blockOut;
      if (c.attnResolutions.includes(res)) attnBlock(p, `${prefix}.up.${level}.attn.${i}`, blockIn);
    }
    if (level !== 0) {
      p.conv(`${prefix}.up.${level}.upsample.conv`, blockIn, blockIn, 3);
      res *= 2;
    }
  }
  p.norm(`${prefix}.norm_out`, blockIn);
  p.conv(`${prefix}.conv_out`, blockIn, c.outCh, 3);
}

/** The generator's parameters in state-dict order. */
export function declareGenerator(p: ParamSpecs, c: V2LConfig): void {
  encoder(p, c);
  p.conv('quant_conv', c.zChannels, c.embedDim, 1);
  p.conv('post_quant_conv', c.embedDim, c.zChannels, 1);
  decoder(p, c);
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
