// The network configuration read back from a state dict's tensor shapes and key names, so that any
// checkpoint of the reference code (any ch, ch_mult, res blocks, attention levels, z channels, embed
// width, codebook rows, cross-attention) loads without being told its configuration.
//
// What the shapes cannot say is taken from `hints` (e.g. `--config <json>`) or a documented default and
// listed in `assumed`: the resolution (only places attention, so any value consistent with the attention
// levels found is equivalent), the split of the cross-attention's inner width into heads x width per head
// (reference: dim_head = the mid-block width), the discriminator when the file has none, cosine codes.
import { blockIn, validateConfig, type V2LConfig } from './config.js';

export interface InferredConfig {
  config: V2LConfig;
  /** Fields the shapes do not determine, with the value used and why. */
  assumed: string[];
}

type Shapes = ReadonlyMap<string, readonly number[]>;

/** Shapes of a state dict (any map whose values have a `shape`). */
export function shapesOf(sd: ReadonlyMap<string, { shape: readonly number[] }>): Map<string, readonly number[]> {
  return new Map([...sd].map(([k, t]) => [k, t.shape]));
}

function dim(shapes: Shapes, key: string, axis: number): number {
  const s = shapes.get(key);
  if (!s) throw new Error(`cannot read the network configuration: the state dict has no ${key}`);
  return s[axis];
}

/** Indices `i` for which `${prefix}${i}${suffix}` is a key. */
function indices(shapes: Shapes, prefix: string, suffix: string): number[] {
  const out = new Set<number>();
  for (const k of shapes.keys()) {
    if (!k.startsWith(prefix)) continue;
    const m = /^(\d+)/.exec(k.slice(prefix.length));
    if (m && k.slice(prefix.length + m[1].length).startsWith(suffix)) out.add(Number(m[1]));
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The configuration that the state dict's keys and shapes describe. Throws, naming the key, when a
 * tensor every V2L network has is absent. `hints` fill or override what the shapes leave open.
 */
export function inferConfig(shapes: Shapes, hints: Partial<V2LConfig> = {}): InferredConfig {
  const assumed: string[] = [];
  const ch = dim(shapes, 'encoder.conv_in.weight', 0);
  const inChannels = dim(shapes, 'encoder.conv_in.weight', 1);
  const levels = indices(shapes, 'encoder.down.', '.block.');
  if (!levels.length) throw new Error('cannot read the network configuration: the state dict has no encoder.down.* blocks');
  const chMult = levels.map((l) => {
    const out = dim(shapes, `encoder.down.${l}.block.0.conv1.weight`, 0);
    if (out % ch !== 0) throw new Error(`cannot read the network configuration: encoder.down.${l} has ${out} channels, not a multiple of ch ${ch}`);
    return out / ch;
  });
  const numResBlocks = indices(shapes, 'encoder.down.0.block.', '.conv1.weight').length;
  // Attention levels: the reference places AttnBlocks where the running resolution is in attn_resolutions.
  const attnLevels = levels.filter((l) => shapes.has(`encoder.down.${l}.attn.0.norm.weight`));
  let resolution = hints.resolution;
  if (resolution === undefined) {
    resolution = Math.max(128, 2 ** (levels.length - 1));
    if (attnLevels.length) assumed.push(`resolution ${resolution} (only places the attention blocks; the file's are at levels ${attnLevels.join(', ')})`);
  }
  const res = resolution;
  const attnResolutions = hints.attnResolutions ?? attnLevels.map((l) => Math.floor(res / 2 ** l));
  const zChannels = dim(shapes, 'encoder.conv_out.weight', 0);
  const embedDim = dim(shapes, 'quant_conv.weight', 0);
  const outCh = dim(shapes, 'decoder.conv_out.weight', 0);
  const rowsOf = (k: string, dflt: number, what: string): number => {
    const s = shapes.get(k);
    if (s) return s[0];
    if (hints[what as keyof V2LConfig] === undefined) assumed.push(`${what} ${dflt} (the file has no ${k}; the codebook package supplies the rows)`);
    return dflt;
  };
  const nLocal = hints.nLocal ?? rowsOf('tok_embeddings.weight', 32000, 'nLocal');
  const nGlobal = hints.nGlobal ?? rowsOf('tok_embeddings_global.weight', 11908, 'nGlobal');
  const mid = ch * chMult[chMult.length - 1];
  const crossAttention = shapes.has('decoder.mid.cross_attn_1.to_q.weight');
  let crossAttnHeads = hints.crossAttnHeads ?? 8;
  let crossAttnDimHead = hints.crossAttnDimHead ?? mid;
  if (crossAttention) {
    const inner = dim(shapes, 'decoder.mid.cross_attn_1.to_q.weight', 0);
    if (hints.crossAttnHeads !== undefined && hints.crossAttnDimHead === undefined) crossAttnDimHead = inner / crossAttnHeads;
    else if (hints.crossAttnDimHead !== undefined && hints.crossAttnHeads === undefined) crossAttnHeads = inner / crossAttnDimHead;
    else if (hints.crossAttnHeads === undefined) {
      // The reference: dim_head = block_in, so heads = inner / block_in.
      if (inner % mid === 0) [crossAttnHeads, crossAttnDimHead] = [inner / mid, mid];
      else [crossAttnHeads, crossAttnDimHead] = inner % 8 === 0 ? [8, inner / 8] : [1, inner];
      assumed.push(`cross-attention ${crossAttnHeads} heads x ${crossAttnDimHead} (the file fixes only their product ${inner}; give crossAttnHeads in --config if it was trained otherwise)`);
    }
    if (crossAttnHeads * crossAttnDimHead !== inner || !Number.isInteger(crossAttnHeads) || !Number.isInteger(crossAttnDimHead)) {
      throw new Error(`cross-attention: ${hints.crossAttnHeads ?? crossAttnHeads} heads x ${hints.crossAttnDimHead ?? crossAttnDimHead} does not make the file's inner width ${inner}`);
    }
  }
  // Discriminator: conv layers = 4-D weights under discriminator.main.* minus 2 (first and last conv).
  let discLayers = hints.discLayers ?? 2;
  let discNdf = hints.discNdf ?? 64;
  const discConvs = indices(shapes, 'discriminator.main.', '.weight').filter((i) => shapes.get(`discriminator.main.${i}.weight`)?.length === 4);
  if (discConvs.length >= 3) {
    discLayers = hints.discLayers ?? discConvs.length - 2;
    discNdf = hints.discNdf ?? dim(shapes, 'discriminator.main.0.weight', 0);
  } else if (hints.discLayers === undefined) {
    assumed.push('discriminator 2 layers x 64 filters (the file has none; only training uses it)');
  }
  const config: V2LConfig = {
    ch, chMult, numResBlocks, resolution, attnResolutions, inChannels, outCh, zChannels, embedDim, nLocal, nGlobal,
    crossAttnHeads, crossAttnDimHead, discLayers, discNdf,
  };
  if (!crossAttention) config.crossAttention = false;
  if (hints.cosineCodes !== undefined) config.cosineCodes = hints.cosineCodes;
  return { config: validateConfig(config), assumed };
}

/** One line a person reads: "ch 128, ch_mult [1,2,2,4], 2 res blocks, ...". */
export function describeConfig(c: V2LConfig): string {
  const cross = c.crossAttention === false ? 'no cross-attention' : `cross-attention ${c.crossAttnHeads}x${c.crossAttnDimHead}`;
  return `ch ${c.ch}, ch_mult [${c.chMult.join(',')}], ${c.numResBlocks} res blocks, attention at [${c.attnResolutions.join(',')}] of ${c.resolution}, ` +
    `z ${c.zChannels}, embed ${c.embedDim}, codebooks ${c.nLocal}/${c.nGlobal} rows, ${cross}, mid width ${blockIn(c)}`;
}

/** The fields in which two configurations differ, as "field: a vs b" (empty when equal). */
export function configDifferences(a: V2LConfig, b: V2LConfig): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof V2LConfig)[]);
  for (const k of keys) {
    const x = JSON.stringify(a[k]);
    const y = JSON.stringify(b[k]);
    if (x !== y) out.push(`${k}: ${x ?? 'absent'} vs ${y ?? 'absent'}`);
  }
  return out;
}
