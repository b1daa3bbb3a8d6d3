// Configuration of the V2L tokenizer network. Field meanings follow the reference `ddconfig` of
// taming-transformers' Encoder/Decoder, plus the codebook and cross-attention sizes of VQModel_LLaMA.

/** Shape of the tokenizer network. Every field has the same meaning as in the PyTorch reference. */
export interface V2LConfig {
  /** Base channel width (`ch`). */
  ch: number;
  /** Channel multiplier per resolution level (`ch_mult`); its length fixes the number of levels. */
  chMult: number[];
  /** ResnetBlocks per encoder level (the decoder has one more per level, as in the reference). */
  numResBlocks: number;
  /**
   * The reference's `resolution`: only used to decide, level by level, where self-attention blocks sit
   * (a level gets them when its running resolution is in `attnResolutions`). The network itself is fully
   * convolutional: any image whose sides are multiples of 2^(levels-1) can be fed.
   */
  resolution: number;
  attnResolutions: number[];
  inChannels: number;
  outCh: number;
  /** Latent channels of the encoder output (`z_channels`). */
  zChannels: number;
  /** Width of the codebook embeddings (CLIP ViT-L/14: 768); quant_conv maps zChannels to it. */
  embedDim: number;
  /** Rows of the local codebook (the LLM vocabulary; LLaMA-2: 32,000). */
  nLocal: number;
  /** Rows of the global codebook (the filtered expanded vocabulary; reference: 11,908). */
  nGlobal: number;
  /** Decoder mid-block cross-attention: heads, and width per head (reference: heads 8, dim_head = block_in). */
  crossAttnHeads: number;
  crossAttnDimHead: number;
  /**
   * Whether the decoder's mid block has the cross-attention to the global tokens (absent: true, the
   * reference). false is what the reference's `use_crossatt_dec=0` switch means (that switch cannot run
   * there: `Decoder.forward(z, g)` always applies the cross-attention) and the paper's Table 3 model
   * without global tokens: the decoder sees only the local tokens, and `decoder.mid.cross_attn_1.*` is absent.
   */
  crossAttention?: boolean;
  /**
   * Cosine-similarity local codes (absent: false, the reference): the projected codebook rows are
   * L2-normalised like z, so the nearest row is the most similar direction and every code lies on the
   * sphere z lives on (Yu et al. 2022, ViT-VQGAN, "l2-normalised codes"). A deviation against codebook
   * collapse; the decoder receives the normalised rows.
   */
  cosineCodes?: boolean;
  /** PatchGAN discriminator: conv layers (reference 2) and base filters (reference 64). */
  discLayers: number;
  discNdf: number;
}

/** Channels at the bottom of the U (the mid blocks): ch * chMult[last]. */
export function blockIn(c: V2LConfig): number {
  return c.ch * c.chMult[c.chMult.length - 1];
}

/** Whether the decoder has its cross-attention (absent in old metadata: true, as the reference). */
export function hasCrossAttention(c: V2LConfig): boolean {
  return c.crossAttention !== false;
}

/** Spatial downsampling factor of the encoder (8 for four levels). */
export function downFactor(c: V2LConfig): number {
  return 2 ** (c.chMult.length - 1);
}

/**
 * The paper's network for 128 px images (ch 128, ch_mult [1,2,2,4], 2 res blocks, z 256, embed 768, local
 * codebook 32,000 rows, global 11,908). `attnResolutions` is empty: the released reference config declares
 * resolution 256 with attention at 16, which matches no level, so the released checkpoint has self-attention
 * only in the mid blocks (the digest's "encoder attention never fires"); this reproduces that layout so the
 * official state dict loads.
 */
export function paperConfig(): V2LConfig {
  return {
    ch: 128, chMult: [1, 2, 2, 4], numResBlocks: 2, resolution: 128, attnResolutions: [],
    inChannels: 3, outCh: 3, zChannels: 256, embedDim: 768, nLocal: 32000, nGlobal: 11908,
    crossAttnHeads: 8, crossAttnDimHead: 512, discLayers: 2, discNdf: 64,
  };
}

/** Checks the configuration and says what is wrong (throws). */
export function validateConfig(c: V2LConfig): V2LConfig {
  const bad: string[] = [];
  const posInt = (k: keyof V2LConfig) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) bad.push(`${k} must be a positive integer (got ${String(v)})`);
  };
  for (const k of ['ch', 'numResBlocks', 'resolution', 'inChannels', 'outCh', 'zChannels', 'embedDim', 'nLocal', 'nGlobal', 'crossAttnHeads', 'crossAttnDimHead', 'discLayers', 'discNdf'] as const) posInt(k);
  if (!Array.isArray(c.chMult) || c.chMult.length === 0 || c.chMult.some((m) => !Number.isInteger(m) || m <= 0)) bad.push(`chMult must be a non-empty list of positive integers (got ${JSON.stringify(c.chMult)})`);
  if (!Array.isArray(c.attnResolutions)) bad.push('attnResolutions must be a list');
  for (const k of ['crossAttention', 'cosineCodes'] as const) if (c[k] !== undefined && typeof c[k] !== 'boolean') bad.push(`${k} must be true or false (got ${String(c[k])})`);
  // GroupNorm(32) needs every normalised width to be a multiple of 32.
  if (Array.isArray(c.chMult)) for (const m of [1, ...c.chMult]) if ((c.ch * m) % 32 !== 0) bad.push(`ch * ${m} = ${c.ch * m} is not a multiple of 32 (GroupNorm uses 32 groups)`);
  if (bad.length) throw new Error(`invalid V2L network configuration: ${bad.join('; ')}`);
  return c;
}

/**
 * Builds a configuration from the reference's JSON (the parity file's `__metadata__.config`, or a ddconfig
 * with the V2L extras). `dim_head: "block_in"` means the mid-block width, as in the reference decoder.
 */
export function configFromReference(json: string | Record<string, unknown>): V2LConfig {
  const r = (typeof json === 'string' ? JSON.parse(json) : json) as Record<string, unknown>;
  const num = (k: string, dflt?: number): number => {
    const v = r[k] ?? dflt;
    if (typeof v !== 'number') throw new Error(`reference config: "${k}" is missing or not a number`);
    return v;
  };
  if (r.double_z === true) throw new Error('reference config: double_z=true is not a V2L configuration (its encoder outputs z_channels, not 2*z_channels)');
  const ca = (r.cross_attention ?? {}) as Record<string, unknown>;
  const disc = (r.disc ?? {}) as Record<string, unknown>;
  const c: V2LConfig = {
    ch: num('ch'),
    chMult: (r.ch_mult as number[]) ?? [],
    numResBlocks: num('num_res_blocks'),
    resolution: num('resolution'),
    attnResolutions: (r.attn_resolutions as number[]) ?? [],
    inChannels: num('in_channels', 3),
    outCh: num('out_ch', 3),
    zChannels: num('z_channels'),
    embedDim: num('embed_dim', 768),
    nLocal: num('n_local', 32000),
    nGlobal: num('n_global', 11908),
    crossAttnHeads: typeof ca.heads === 'number' ? ca.heads : 8,
    crossAttnDimHead: 0,
    discLayers: typeof disc.n_layers === 'number' ? disc.n_layers : 2,
    discNdf: typeof disc.ndf === 'number' ? disc.ndf : 64,
  };
  // The reference's switch (which its own Decoder ignores); absent or 1: the cross-attention.
  if (r.use_crossatt_dec === 0 || r.use_crossatt_dec === false) c.crossAttention = false;
  c.crossAttnDimHead = typeof ca.dim_head === 'number' ? ca.dim_head : c.ch * (c.chMult[c.chMult.length - 1] ?? 1);
  if (typeof ca.context_dim === 'number' && ca.context_dim !== c.embedDim) {
    throw new Error(`reference config: cross-attention context_dim ${ca.context_dim} differs from embed_dim ${c.embedDim}; the global embeddings feed the cross-attention, so they must match`);
  }
  return validateConfig(c);
}
