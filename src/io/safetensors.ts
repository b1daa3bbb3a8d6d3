// safetensors (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, __metadata__?: {string: string}}, then raw little-endian
// data. No maintained npm package reads and writes it, and the format is 30 lines, so it lives here.
// Portable: bytes in, bytes out; file access is in ./files.ts.
import { DTYPE_BYTES, numel, viewAs, type DType, type HostTensor } from './dtypes.js';

export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

export function parseSafetensors(bytes: Uint8Array, what = 'safetensors data'): SafetensorsFile {
  if (bytes.byteLength < 8) throw new Error(`${what}: too short to be safetensors (${bytes.byteLength} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(dv.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.byteLength) {
    throw new Error(`${what}: header length ${headerLen} exceeds the file (${bytes.byteLength} bytes); not a safetensors file or truncated`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${what}: header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, HostTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = entry as { dtype: DType; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in DTYPE_BYTES)) throw new Error(`${what}: tensor "${name}" has unsupported dtype ${dtype}`);
    const [begin, end] = data_offsets;
    const expected = numel(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== expected) throw new Error(`${what}: tensor "${name}" has ${end - begin} bytes, shape [${shape}] ${dtype} needs ${expected}`);
    if (dataStart + end > bytes.byteLength) throw new Error(`${what}: tensor "${name}" runs past the end of the file (truncated?)`);
    tensors.set(name, { dtype, shape: [...shape], data: viewAs(dtype, bytes.subarray(dataStart + begin, dataStart + end)) });
  }
  return { tensors, metadata };
}

/** Serialises tensors (in the given order) with optional string metadata. */
export function serializeSafetensors(tensors: Iterable<[string, HostTensor]> | Map<string, HostTensor>, metadata?: Record<string, string>): Uint8Array {
  const entries = [...tensors];
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    const n = t.data.byteLength;
    if (n !== numel(t.shape) * DTYPE_BYTES[t.dtype]) throw new Error(`tensor "${name}": data has ${n} bytes, shape [${t.shape}] ${t.dtype} needs ${numel(t.shape) * DTYPE_BYTES[t.dtype]}`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
  const headerBytes = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20);
  headerBytes.set(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const [, t] of entries) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
    pos += t.data.byteLength;
  }
  return out;
}
