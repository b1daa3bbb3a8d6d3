// ONNX external data made internal: a model whose initializers point at another file (TensorProto
// data_location EXTERNAL, external_data { location, offset, length }: GraphBuilder.externalWeight) rewritten
// with those bytes inside, as raw_data. For runtimes that cannot be given the file (onnxruntime-web's asyncify
// build answers "Module.MountedFiles is not available" to its `externalData` option). Portable: a few
// protobuf wire-format fields walked by hand, no schema.

// Field numbers: ModelProto.graph 7; GraphProto.initializer 5; TensorProto.name 8, raw_data 9, external_data 13,
// data_location 14; StringStringEntryProto.key 1, value 2.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_NAME = 8;
const TENSOR_RAW = 9;
const TENSOR_EXTERNAL = 13;
const TENSOR_LOCATION = 14;

interface Field { no: number; wire: number; start: number; end: number; body: Uint8Array | null }

function varint(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (;;) {
    if (at >= b.length) throw new Error('ONNX model: truncated varint');
    const x = b[at++];
    v += (x & 0x7f) * mul;
    if (x < 0x80) return [v, at];
    mul *= 128;
  }
}

/** The top-level fields of one protobuf message; `body` is the payload of a length-delimited field. */
function fields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < b.length) {
    const start = at;
    const [tag, p] = varint(b, at);
    at = p;
    const wire = tag & 7;
    let body: Uint8Array | null = null;
    if (wire === 0) at = varint(b, at)[1];
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const [len, q] = varint(b, at);
      body = b.subarray(q, q + len);
      at = q + len;
    } else throw new Error(`ONNX model: unsupported protobuf wire type ${wire}`);
    if (at > b.length) throw new Error('ONNX model: truncated field');
    out.push({ no: Math.floor(tag / 8), wire, start, end: at, body });
  }
  return out;
}

function encodeVarint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A length-delimited field: tag, length, payload parts. */
function lengthField(no: number, parts: Uint8Array[]): Uint8Array[] {
  const len = parts.reduce((s, p) => s + p.length, 0);
  return [Uint8Array.from([...encodeVarint(no * 8 + 2), ...encodeVarint(len)]), ...parts];
}

const text = (b: Uint8Array | null) => (b ? new TextDecoder().decode(b) : '');

/** A TensorProto with its external data inside (raw_data), or null when it has none. */
function inlineTensor(t: Uint8Array, files: ReadonlyMap<string, Uint8Array>): Uint8Array[] | null {
  const fs = fields(t);
  const ext = fs.filter((f) => f.no === TENSOR_EXTERNAL);
  if (!ext.length) return null;
  const entry = new Map(ext.map((f) => {
    const kv = fields(f.body!);
    return [text(kv.find((x) => x.no === 1)?.body ?? null), text(kv.find((x) => x.no === 2)?.body ?? null)] as const;
  }));
  const name = text(fs.find((f) => f.no === TENSOR_NAME)?.body ?? null);
  const location = entry.get('location') ?? '';
  const data = files.get(location);
  if (!data) throw new Error(`ONNX model: initializer ${name} reads ${location}, which was not given`);
  const offset = Number(entry.get('offset') ?? 0);
  const length = entry.has('length') ? Number(entry.get('length')) : data.length - offset;
  if (offset + length > data.length) throw new Error(`ONNX model: initializer ${name} needs bytes ${offset}..${offset + length} of ${location}, which has ${data.length}`);
  const kept = fs.filter((f) => f.no !== TENSOR_EXTERNAL && f.no !== TENSOR_LOCATION).map((f) => t.subarray(f.start, f.end));
  return [...kept, ...lengthField(TENSOR_RAW, [data.subarray(offset, offset + length)])];
}

/** `model` with every initializer that reads one of `files` (by location) holding those bytes itself. */
export function inlineExternalData(model: Uint8Array, files: readonly { path: string; data: Uint8Array }[]): Uint8Array {
  const byPath = new Map(files.map((f) => [f.path, f.data]));
  const parts: Uint8Array[] = [];
  for (const f of fields(model)) {
    if (f.no !== MODEL_GRAPH || f.wire !== 2) {
      parts.push(model.subarray(f.start, f.end));
      continue;
    }
    const graph: Uint8Array[] = [];
    for (const g of fields(f.body!)) {
      const inlined = g.no === GRAPH_INITIALIZER && g.wire === 2 ? inlineTensor(g.body!, byPath) : null;
      if (inlined) graph.push(...lengthField(GRAPH_INITIALIZER, inlined));
      else graph.push(f.body!.subarray(g.start, g.end));
    }
    parts.push(...lengthField(MODEL_GRAPH, graph));
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
