// A GGUF file's metadata (the key/value header before the tensor infos), read from the bytes of its start
// (portable): what the browser needs before loading a model (its vocabulary, to check the codebook against,
// and whether the file is a GGUF at all). GGUF v2/v3: magic "GGUF", version, tensor count, kv count, then
// (key, type, value) triples, little-endian.
export class GgufTruncated extends Error {}

const TYPE_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** The metadata of a GGUF whose first bytes are `head`; throws GgufTruncated when `head` ends inside it. */
export function parseGgufMetadata(head: Uint8Array, name: string): Map<string, unknown> {
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const td = new TextDecoder();
  let o = 0;
  const need = (n: number) => {
    if (o + n > head.length) throw new GgufTruncated(`${name}: the GGUF header continues past the bytes read`);
  };
  const u32 = () => { need(4); const v = dv.getUint32(o, true); o += 4; return v; };
  const u64 = () => { need(8); const v = dv.getBigUint64(o, true); o += 8; if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${name}: a GGUF length of ${v} is not plausible`); return Number(v); };
  const str = () => { const n = u64(); need(n); const s = td.decode(head.subarray(o, o + n)); o += n; return s; };
  const scalar = (t: number): unknown => {
    switch (t) {
      case 0: need(1); return dv.getUint8(o++);
      case 1: need(1); return dv.getInt8(o++);
      case 2: { need(2); const v = dv.getUint16(o, true); o += 2; return v; }
      case 3: { need(2); const v = dv.getInt16(o, true); o += 2; return v; }
      case 4: return u32();
      case 5: { need(4); const v = dv.getInt32(o, true); o += 4; return v; }
      case 6: { need(4); const v = dv.getFloat32(o, true); o += 4; return v; }
      case 7: need(1); return dv.getUint8(o++) !== 0;
      case 8: return str();
      case 10: return u64();
      case 11: { need(8); const v = Number(dv.getBigInt64(o, true)); o += 8; return v; }
      case 12: { need(8); const v = dv.getFloat64(o, true); o += 8; return v; }
      default: throw new Error(`${name}: unknown GGUF value type ${t} at byte ${o}; is this a GGUF file?`);
    }
  };
  need(4);
  if (td.decode(head.subarray(0, 4)) !== 'GGUF') throw new Error(`${name} is not a GGUF file (it does not start with "GGUF")`);
  o = 4;
  const version = u32();
  if (version < 2 || version > 3) throw new Error(`${name}: GGUF version ${version} is not supported (2 or 3)`);
  u64(); // tensors
  const kvs = u64();
  const meta = new Map<string, unknown>();
  for (let i = 0; i < kvs; i++) {
    const key = str();
    const t = u32();
    if (t === 9) {
      const et = u32();
      const n = u64();
      if (et !== 8 && TYPE_SIZE[et] === undefined) throw new Error(`${name}: unknown GGUF array type ${et}`);
      const arr = new Array<unknown>(n);
      for (let j = 0; j < n; j++) arr[j] = scalar(et);
      meta.set(key, arr);
    } else meta.set(key, scalar(t));
  }
  return meta;
}

/** Reads the metadata from the start of a file, reading more of it while the header goes on. */
export async function readGgufMetadata(file: Blob, name: string): Promise<Map<string, unknown>> {
  for (let n = 1 << 22; ; n *= 4) {
    const head = new Uint8Array(await file.slice(0, n).arrayBuffer());
    try {
      return parseGgufMetadata(head, name);
    } catch (e) {
      if (!(e instanceof GgufTruncated)) throw e;
      if (head.length < n) throw new Error(`${name} is truncated: the file ends inside its GGUF header (${file.size.toLocaleString()} bytes)`);
    }
  }
}
