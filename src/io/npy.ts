// NumPy .npy (format versions 1.0, 2.0, 3.0; https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// magic "\x93NUMPY", version, a little-endian header length, a Python dict literal
// {'descr', 'fortran_order', 'shape'}, then the data. Numeric arrays become HostTensors (big-endian and
// Fortran order are converted to little-endian C order); fixed-width unicode ('<U8') and bytes ('|S5')
// arrays and object arrays of Python str (the official `global_vocabulary.npy`) become string arrays.
// An object array's data is a pickle, read by the restricted unpickler in ./pickle.ts (never executed).
// Portable: bytes in, bytes out; file access is in ./files.ts.
import { DTYPE_BYTES, numel, viewAs, type DType, type HostTensor } from './dtypes.js';
import { NumpyArray, NumpyDType, unpickle } from './pickle.js';
import { byteSwapped, fStrides, stridedToContiguous } from './strided.js';

export type NpyArray =
  | { kind: 'numeric'; descr: string; tensor: HostTensor }
  | { kind: 'strings'; descr: string; shape: number[]; values: string[] };

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** NumPy kind+size -> our dtype; unsigned 16/32-bit widen to I32/I64 (HostTensor has no unsigned wide types). */
const NUMERIC: Record<string, DType> = {
  f2: 'F16', f4: 'F32', f8: 'F64', i1: 'I8', i2: 'I16', i4: 'I32', i8: 'I64', u1: 'U8', b1: 'BOOL',
  u2: 'I32', u4: 'I64', u8: 'I64',
};

function parseHeader(text: string, what: string): { descr: string; fortranOrder: boolean; shape: number[] } {
  if (/['"]descr['"]\s*:\s*\[/.test(text)) throw new Error(`${what}: structured (record) dtypes are not supported`);
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`${what}: .npy header is missing descr, fortran_order or shape: ${text.trim().slice(0, 200)}`);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length).map((s) => {
    const v = Number(s.replace(/L$/, ''));
    if (!Number.isInteger(v) || v < 0) throw new Error(`${what}: bad dimension "${s}" in .npy shape`);
    return v;
  });
  return { descr, fortranOrder: fortran === 'True', shape };
}

/** Raw array bytes (as NumPy stores them) -> NpyArray. Shared by .npy files and pickled ndarrays. */
export function decodeNumpyData(dtype: NumpyDType, shape: number[], fortranOrder: boolean, data: Uint8Array | unknown[], what: string): NpyArray {
  const descr = dtype.descr;
  const n = numel(shape);
  if (dtype.kind === 'O') {
    if (!Array.isArray(data)) throw new Error(`${what}: object array without a list of values`);
    if (data.length !== n) throw new Error(`${what}: object array has ${data.length} values, shape [${shape}] needs ${n}`);
    const values = data.map((v, i) => {
      if (typeof v !== 'string') throw new Error(`${what}: object array element ${i} is ${v === null ? 'None' : typeof v}, only str is supported`);
      return v;
    });
    return { kind: 'strings', descr, shape, values };
  }
  if (!(data instanceof Uint8Array)) throw new Error(`${what}: array of ${descr} without raw data`);
  const bigEndian = dtype.byteorder === '>';
  if (dtype.kind === 'U' || dtype.kind === 'S') {
    const chars = dtype.itemsize;
    const itemBytes = dtype.kind === 'U' ? 4 * chars : chars;
    if (data.byteLength < n * itemBytes) throw new Error(`${what}: data has ${data.byteLength} bytes, ${n} x ${descr} needs ${n * itemBytes} (truncated?)`);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const utf8 = new TextDecoder();
    const values: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      if (dtype.kind === 'U') {
        const cps: number[] = [];
        for (let c = 0; c < chars; c++) {
          const cp = dv.getUint32(i * itemBytes + 4 * c, !bigEndian);
          if (cp === 0) break;
          cps.push(cp);
        }
        values[i] = String.fromCodePoint(...cps);
      } else {
        let end = i * itemBytes + itemBytes;
        while (end > i * itemBytes && data[end - 1] === 0) end--;
        values[i] = utf8.decode(data.subarray(i * itemBytes, end));
      }
    }
    // Fortran-order string arrays: reorder the flat list to C order.
    return { kind: 'strings', descr, shape, values: fortranOrder && shape.length > 1 ? reorder(values, shape) : values };
  }
  const key = `${dtype.kind}${dtype.itemsize}`;
  const dt = NUMERIC[key];
  if (!dt) throw new Error(`${what}: NumPy dtype ${descr} is not supported (numeric f2/f4/f8, i1-i8, u1-u8, b1, U, S and O are)`);
  const size = dtype.itemsize;
  if (data.byteLength < n * size) throw new Error(`${what}: data has ${data.byteLength} bytes, shape [${shape}] ${descr} needs ${n * size} (truncated?)`);
  let bytes = data.subarray(0, n * size);
  if (bigEndian && size > 1) bytes = byteSwapped(bytes, size);
  if (fortranOrder && shape.length > 1) bytes = stridedToContiguous(bytes, size, shape, fStrides(shape), 0);
  let out: HostTensor['data'];
  if (key === 'u2' || key === 'u4' || key === 'u8') out = widenUnsigned(bytes, size, what);
  else out = viewAs(dt, bytes);
  return { kind: 'numeric', descr, tensor: { dtype: dt, shape, data: out } };
}

function reorder<T>(values: T[], shape: number[]): T[] {
  const idx = stridedToContiguous(new Uint8Array(new Uint32Array(values.map((_, i) => i)).buffer), 4, shape, fStrides(shape), 0);
  return Array.from(new Uint32Array(idx.buffer), (i) => values[i]);
}

function widenUnsigned(bytes: Uint8Array, size: number, what: string): Int32Array | BigInt64Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / size;
  if (size === 2) return Int32Array.from({ length: n }, (_, i) => dv.getUint16(i * 2, true));
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const v = size === 4 ? BigInt(dv.getUint32(i * 4, true)) : dv.getBigUint64(i * 8, true);
    if (v > 0x7fffffffffffffffn) throw new Error(`${what}: uint64 value ${v} does not fit int64`);
    out[i] = v;
  }
  return out;
}

/** Parses a .npy file. `what` names the file in errors. */
export function parseNpy(bytes: Uint8Array, what = '.npy data'): NpyArray {
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw new Error(`${what}: not a .npy file (bad magic)`);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw new Error(`${what}: truncated .npy header`);
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new Error(`${what}: .npy format version ${major}.${bytes[7]} is not supported (1.0, 2.0, 3.0 are)`);
  }
  if (start + headerLen > bytes.byteLength) throw new Error(`${what}: .npy header runs past the end of the file (truncated?)`);
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const { descr, fortranOrder, shape } = parseHeader(text, what);
  const body = bytes.subarray(start + headerLen);
  let dtype: NumpyDType;
  try {
    dtype = new NumpyDType(descr.replace(/^\|O$/, '|O8'));
  } catch {
    throw new Error(`${what}: NumPy dtype ${descr} is not supported`);
  }
  if (dtype.kind === 'O') {
    // The body is pickle.dump(array): an ndarray whose state holds the list of values.
    const { value } = unpickle(body, 0, { what });
    if (!(value instanceof NumpyArray)) throw new Error(`${what}: object .npy does not hold a pickled ndarray`);
    const shapeOk = value.shape.length === shape.length && value.shape.every((d, i) => d === shape[i]);
    if (!shapeOk) throw new Error(`${what}: pickled array shape [${value.shape}] differs from the header's [${shape}]`);
    return decodeNumpyData(value.dtype, value.shape, value.fortranOrder, value.data, what);
  }
  return decodeNumpyData(dtype, shape, fortranOrder, body, what);
}

const NPY_DESCR: Record<DType, string | undefined> = {
  F64: '<f8', F32: '<f4', F16: '<f2', BF16: undefined, I64: '<i8', I32: '<i4', I16: '<i2', I8: '|i1', U8: '|u1', BOOL: '|b1',
};

/** Magic, version 1.0 and the header dict padded with spaces so that the data starts on a 64-byte boundary, as NumPy writes it. */
function npyHeader(descr: string, shape: readonly number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  if (header.length > 65535) throw new Error('.npy header too long for format 1.0');
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  return out;
}

/**
 * Serialises strings as a 1-D NumPy unicode array ('<U<width>', UTF-32, width = the longest string in code
 * points). `np.load(path, allow_pickle=True)` (the reference's call for `global_vocabulary.npy`, written
 * there as an object array) reads it as well, and indexing gives `str` values; no pickle is needed.
 */
export function serializeNpyStrings(values: readonly string[]): Uint8Array {
  const points = values.map((v) => [...v].map((ch) => ch.codePointAt(0)!));
  const width = points.reduce((w, p) => Math.max(w, p.length), 1);
  const head = npyHeader(`<U${width}`, [values.length]);
  const out = new Uint8Array(head.length + values.length * width * 4);
  out.set(head, 0);
  const dv = new DataView(out.buffer, head.length);
  points.forEach((p, i) => p.forEach((cp, j) => dv.setUint32((i * width + j) * 4, cp, true)));
  return out;
}

/** Serialises a numeric host tensor as .npy v1.0 (C order, little-endian). BF16 has no NumPy dtype: convert first. */
export function serializeNpy(t: HostTensor): Uint8Array {
  const descr = NPY_DESCR[t.dtype];
  if (!descr) throw new Error(`${t.dtype} has no NumPy dtype; convert to F32 first`);
  const expected = numel(t.shape) * DTYPE_BYTES[t.dtype];
  if (t.data.byteLength !== expected) throw new Error(`tensor data has ${t.data.byteLength} bytes, shape [${t.shape}] ${t.dtype} needs ${expected}`);
  const head = npyHeader(descr, t.shape);
  const total = head.length;
  const out = new Uint8Array(total + t.data.byteLength);
  out.set(head, 0);
  out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), total);
  return out;
}
