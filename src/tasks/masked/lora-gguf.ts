// LoRA adapters in llama.cpp's GGUF form, written here (for tests, and for adapters made from plain arrays).
// Portable: bytes out, the caller writes the file.
//
// The format (llama.cpp src/llama-adapter.cpp, convert_lora_to_gguf.py): a GGUF file whose metadata say
// `general.type = "adapter"`, `general.architecture` = the base model's (checked against it),
// `adapter.type = "lora"` and `adapter.lora.alpha` (f32); for each adapted weight `<name>` of the base model
// two tensors `<name>.lora_a` and `<name>.lora_b`. In ggml's order of dimensions (fastest first) a base weight
// is [n_in, n_out], A is [n_in, r] and B is [r, n_out]: row-major, A is PyTorch's lora_A (r x n_in) and B its
// lora_B (n_out x r). llama.cpp adds scale * (alpha / r) * B (A x) to W x, `scale` being the adapter's scale
// at load time (alpha 0 means alpha = r).

export interface LoraTensor {
  /** The base model tensor adapted, e.g. "blk.0.attn_q.weight". */
  name: string;
  nIn: number;
  nOut: number;
  rank: number;
  /** r x nIn, row-major. */
  a: Float32Array;
  /** nOut x r, row-major. */
  b: Float32Array;
}

export interface LoraAdapter {
  /** The base model's `general.architecture` ("llama"). */
  architecture: string;
  alpha: number;
  tensors: readonly LoraTensor[];
  /** Optional `general.name`. */
  name?: string;
}

const ALIGN = 32;
const GGUF_TYPE = { u32: 4, f32: 6, string: 8 } as const;
const GGML_F32 = 0;

class Writer {
  private chunks: Uint8Array[] = [];
  length = 0;
  private push(b: Uint8Array) {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.push(b);
  }
  u64(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.push(b);
  }
  f32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.push(b);
  }
  bytes(b: Uint8Array) {
    this.push(b);
  }
  pad() {
    const n = (ALIGN - (this.length % ALIGN)) % ALIGN;
    if (n) this.push(new Uint8Array(n));
  }
  result(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function check(t: LoraTensor): void {
  if (![t.nIn, t.nOut, t.rank].every((n) => Number.isInteger(n) && n > 0)) throw new Error(`LoRA ${t.name}: nIn, nOut and rank must be positive integers`);
  if (t.a.length !== t.rank * t.nIn) throw new Error(`LoRA ${t.name}: A has ${t.a.length} values, rank x nIn = ${t.rank * t.nIn}`);
  if (t.b.length !== t.nOut * t.rank) throw new Error(`LoRA ${t.name}: B has ${t.b.length} values, nOut x rank = ${t.nOut * t.rank}`);
}

/** The adapter as a GGUF v3 file. */
export function loraGgufBytes(ad: LoraAdapter): Uint8Array {
  ad.tensors.forEach(check);
  const w = new Writer();
  w.bytes(new TextEncoder().encode('GGUF'));
  w.u32(3);
  const tensors = ad.tensors.flatMap((t) => [
    { name: `${t.name}.lora_a`, dims: [t.nIn, t.rank], data: t.a },
    { name: `${t.name}.lora_b`, dims: [t.rank, t.nOut], data: t.b },
  ]);
  const kv: [string, 'string' | 'f32', string | number][] = [
    ['general.architecture', 'string', ad.architecture],
    ['general.type', 'string', 'adapter'],
    ['adapter.type', 'string', 'lora'],
    ['adapter.lora.alpha', 'f32', ad.alpha],
  ];
  if (ad.name) kv.push(['general.name', 'string', ad.name]);
  w.u64(tensors.length);
  w.u64(kv.length);
  for (const [k, type, v] of kv) {
    w.str(k);
    w.u32(GGUF_TYPE[type]);
    if (type === 'string') w.str(v as string);
    else w.f32(v as number);
  }
  let offset = 0;
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(GGML_F32);
    w.u64(offset);
    offset += Math.ceil((t.data.length * 4) / ALIGN) * ALIGN;
  }
  w.pad();
  for (const t of tensors) {
    const b = new Uint8Array(t.data.length * 4);
    const dv = new DataView(b.buffer);
    t.data.forEach((v, i) => dv.setFloat32(i * 4, v, true));
    w.bytes(b);
    w.pad();
  }
  return w.result();
}

/**
 * W + factor * B A for a base weight W (nOut x nIn, row-major as ggml stores [nIn, nOut]); llama.cpp's
 * factor is scale * alpha / rank. What applying the adapter must equal.
 */
export function mergeLora(w: Float32Array, t: LoraTensor, factor: number): Float32Array {
  check(t);
  if (w.length !== t.nIn * t.nOut) throw new Error(`LoRA ${t.name}: base weight has ${w.length} values, nIn x nOut = ${t.nIn * t.nOut}`);
  const out = new Float32Array(w.length);
  for (let o = 0; o < t.nOut; o++) {
    for (let i = 0; i < t.nIn; i++) {
      let s = 0;
      for (let r = 0; r < t.rank; r++) s += t.b[o * t.rank + r]! * t.a[r * t.nIn + i]!;
      out[o * t.nIn + i] = w[o * t.nIn + i]! + factor * s;
    }
  }
  return out;
}
