// Tensor element types shared by the file formats (safetensors, .pth, .npy), and conversions to the
// float32 / int32 arrays that tfjs uses. Portable: no Node API.

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export type TypedArray =
  | Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/** A host tensor: row-major (C order) data with a shape and a dtype. F16 and BF16 keep raw bits in a Uint16Array. */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Views `bytes` (little-endian) as the typed array of `dtype`, copying only when unaligned. */
export function viewAs(dtype: DType, bytes: Uint8Array): TypedArray {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) throw new Error(`byte length ${bytes.byteLength} is not a multiple of ${size} for ${dtype}`);
  // Copy when unaligned (note: Node Buffer.slice is a view, so copy through the Uint8Array constructor).
  const aligned = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes);
  const { buffer, byteOffset, byteLength } = aligned;
  const n = byteLength / size;
  switch (dtype) {
    case 'F64': return new Float64Array(buffer, byteOffset, n);
    case 'F32': return new Float32Array(buffer, byteOffset, n);
    case 'F16': case 'BF16': return new Uint16Array(buffer, byteOffset, n);
    case 'I64': return new BigInt64Array(buffer, byteOffset, n);
    case 'I32': return new Int32Array(buffer, byteOffset, n);
    case 'I16': return new Int16Array(buffer, byteOffset, n);
    case 'I8': return new Int8Array(buffer, byteOffset, n);
    case 'U8': case 'BOOL': return new Uint8Array(buffer, byteOffset, n);
  }
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function bf16ToFloat(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** A float's nearest IEEE half (round to nearest, ties to even; overflow to infinity), as its 16 bits. */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // the half's biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  // Normal halves keep 10 of the 23 mantissa bits; subnormals shift the implicit 1 in as well.
  const m = e > 0 ? mant : mant | 0x800000;
  const shift = e > 0 ? 13 : 14 - e;
  if (shift > 24) return sign;
  const kept = (e > 0 ? e << 10 : 0) | (m >>> shift);
  const rest = m & ((1 << shift) - 1);
  const mid = 1 << (shift - 1);
  return sign | (kept + (rest > mid || (rest === mid && kept & 1) ? 1 : 0));
}

/** float32 values as an F16 host tensor. */
export function toFloat16(data: Float32Array, shape: number[]): HostTensor {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = floatToHalf(data[i]);
  return { dtype: 'F16', shape, data: out };
}

/** Any host tensor's values as float32 (int64 beyond 2^24 loses precision, as float32 must). */
export function toFloat32(t: HostTensor): Float32Array {
  const d = t.data;
  if (t.dtype === 'F32') return d as Float32Array;
  const out = new Float32Array(d.length);
  if (t.dtype === 'F16') for (let i = 0; i < d.length; i++) out[i] = halfToFloat((d as Uint16Array)[i]);
  else if (t.dtype === 'BF16') for (let i = 0; i < d.length; i++) out[i] = bf16ToFloat((d as Uint16Array)[i]);
  else if (t.dtype === 'I64') for (let i = 0; i < d.length; i++) out[i] = Number((d as BigInt64Array)[i]);
  else for (let i = 0; i < d.length; i++) out[i] = (d as Float64Array)[i];
  return out;
}

/** Integer host tensors as int32 (refusing values out of range). */
export function toInt32(t: HostTensor): Int32Array {
  const d = t.data;
  if (t.dtype === 'I32') return d as Int32Array;
  const out = new Int32Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = Number((d as BigInt64Array | Float32Array)[i]);
    if (!Number.isInteger(v) || v > 2147483647 || v < -2147483648) throw new Error(`value ${v} does not fit int32`);
    out[i] = v;
  }
  return out;
}
