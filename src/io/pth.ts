// PyTorch `.pth` files written by torch.save, read without Python and without executing the pickle.
// Two layouts exist:
// - zip (torch >= 1.6): `<archive>/data.pkl` (the pickled object; storages are persistent ids
//   ('storage', torch.FloatStorage, key, location, numel)), `<archive>/data/<key>` (raw storage bytes),
//   optionally `<archive>/byteorder` ("little" / "big"). The archive folder name varies.
// - legacy (torch < 1.6, e.g. the LPIPS heads): pickles back to back — magic number, protocol version,
//   sys_info, the object, the list of storage keys — then per storage an int64 element count and its bytes.
// Tensors are strided views of storages; views are materialised to C order (contiguous views share the
// file's bytes, copy before mutating). The pickle goes through ./pickle.ts: only tensor-rebuilding
// globals are accepted. Portable: bytes in; file access is in ./files.ts.
import { DTYPE_BYTES, numel, viewAs, type HostTensor } from './dtypes.js';
import { decodeNumpyData } from './npy.js';
import { NumpyArray, NumpyScalar, PyNamespace, TorchStorageType, TorchTensorRef, unpickle, type TorchStorage } from './pickle.js';
import { byteSwapped, isContiguous, stridedToContiguous, viewExtent } from './strided.js';
import { readZip as readZipEntries } from './zip.js';

export interface PthFile {
  format: 'zip' | 'legacy';
  /**
   * Every tensor, keyed by its dotted path inside the (unwrapped) object: a state dict's own keys; a
   * bare `torch.save(tensor)` gives the single key "" (see pthTensor).
   */
  tensors: Map<string, HostTensor>;
  /** Everything that is not a tensor (epoch, notes, top-level keys beside the state dict), as plain values. */
  extras: Map<string, unknown>;
  /** The saved object's top-level keys when it was a dict, e.g. ["state_dict", "epoch", "note"]. */
  topLevelKeys: string[];
  /** Which top-level key was unwrapped ("state_dict"), or null. */
  unwrapped: string | null;
}

export interface PthOptions {
  /** Names the file in errors. */
  what?: string;
  /** Top-level keys whose dict is the state dict, tried in order (default ["state_dict"]). */
  unwrap?: readonly string[];
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** Parses a torch.save file (zip or legacy layout). */
export function parsePth(bytes: Uint8Array, opts: PthOptions = {}): PthFile {
  const what = opts.what ?? '.pth data';
  let root: unknown;
  let format: PthFile['format'];
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    root = readZip(bytes, what);
    format = 'zip';
  } else if (bytes.length >= 2 && bytes[0] === 0x80) {
    root = readLegacy(bytes, what);
    format = 'legacy';
  } else if (bytes.length > 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar') {
    throw new Error(`${what}: a tar-format torch file (torch < 0.4); re-save it with a current torch`);
  } else {
    throw new Error(`${what}: not a torch.save file (neither a zip archive nor a pickle)`);
  }
  try {
    return organise(root, format, opts.unwrap ?? ['state_dict'], what);
  } catch (e) {
    // A pathological nesting that still overflows: name the file rather than "Maximum call stack size exceeded".
    if (e instanceof RangeError) throw new Error(`${what}: the pickled object is nested too deeply to read (${e.message})`);
    throw e;
  }
}

/** Deepest nesting of dicts/lists walked for tensors (a state dict is a few levels deep). */
export const MAX_PTH_DEPTH = 256;

/** The one tensor of a file that holds a bare tensor (or a dict with exactly one tensor). */
export function pthTensor(file: PthFile, what = '.pth data'): HostTensor {
  if (file.tensors.size !== 1) {
    throw new Error(`${what}: expected a single tensor, found ${file.tensors.size} (${[...file.tensors.keys()].slice(0, 8).join(', ')})`);
  }
  return file.tensors.values().next().value!;
}

function readZip(bytes: Uint8Array, what: string): unknown {
  const files = Object.fromEntries(readZipEntries(bytes, what));
  const pkl = Object.keys(files).find((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) {
    const hint = Object.keys(files).some((n) => n.endsWith('constants.pkl')) ? ' (a TorchScript archive? load it with torch and re-save its state_dict)' : '';
    throw new Error(`${what}: zip archive has no data.pkl, so it was not written by torch.save${hint}`);
  }
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const order = files[`${prefix}byteorder`];
  const bigEndian = order !== undefined && new TextDecoder().decode(order).trim() === 'big';
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown): TorchStorage => {
    const { key, dtype } = storagePid(pid, what);
    let s = storages.get(key);
    if (!s) {
      const data = files[`${prefix}data/${key}`];
      if (!data) throw new Error(`${what}: storage "${key}" is missing from the archive (truncated file?)`);
      const size = DTYPE_BYTES[dtype];
      s = { key, dtype, elementOffset: 0, bytes: bigEndian && size > 1 ? byteSwapped(data, size) : data };
      storages.set(key, s);
    }
    return s;
  };
  return unpickle(files[pkl], 0, { what, persistentLoad }).value;
}

function storagePid(pid: unknown, what: string): { key: string; dtype: TorchStorageType['dtype']; view: unknown } {
  if (!Array.isArray(pid) || pid[0] !== 'storage') {
    const kind = Array.isArray(pid) ? String(pid[0]) : typeof pid;
    throw new Error(`${what}: persistent id of kind "${kind}" is not a tensor storage (saved modules carry source code and are refused)`);
  }
  const type = pid[1];
  if (!(type instanceof TorchStorageType)) throw new Error(`${what}: storage type is not a supported torch storage`);
  if (typeof pid[2] !== 'string') throw new Error(`${what}: storage key is not a string`);
  return { key: pid[2], dtype: type.dtype, view: pid[5] };
}

function readLegacy(bytes: Uint8Array, what: string): unknown {
  let pos = 0;
  const next = (opts: Parameters<typeof unpickle>[2] = {}) => {
    const r = unpickle(bytes, pos, { what, ...opts });
    pos = r.end;
    return r.value;
  };
  const magic = next();
  if (typeof magic !== 'bigint' || magic !== LEGACY_MAGIC) throw new Error(`${what}: a pickle but not a torch.save file (legacy magic number missing)`);
  const protocol = next();
  if (protocol !== 1001) throw new Error(`${what}: legacy torch protocol ${String(protocol)} is not supported (1001 is)`);
  const sysInfo = next();
  const littleEndian = !(sysInfo instanceof Map) || sysInfo.get('little_endian') !== false;
  // Storages (and storage views) are created empty while unpickling, filled after the key list.
  const roots = new Map<string, TorchStorage>();
  const views: { view: TorchStorage; root: string }[] = [];
  const persistentLoad = (pid: unknown): TorchStorage => {
    const { key, dtype, view } = storagePid(pid, what);
    let root = roots.get(key);
    if (!root) {
      root = { key, dtype, elementOffset: 0 };
      roots.set(key, root);
    }
    if (Array.isArray(view) && view.length >= 2) {
      const [viewKey, offset] = view as [unknown, unknown];
      const v: TorchStorage = { key: String(viewKey), dtype, elementOffset: Number(offset) };
      views.push({ view: v, root: key });
      return v;
    }
    return root;
  };
  const value = next({ persistentLoad });
  const keys = next();
  if (!Array.isArray(keys)) throw new Error(`${what}: legacy storage key list missing`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const k of keys) {
    const s = roots.get(String(k));
    if (pos + 8 > bytes.length) throw new Error(`${what}: storage "${String(k)}" runs past the end of the file (truncated?)`);
    const n = Number(dv.getBigInt64(pos, littleEndian));
    pos += 8;
    const size = s ? DTYPE_BYTES[s.dtype] : 0;
    if (!s) throw new Error(`${what}: storage "${String(k)}" listed but never used`);
    if (n < 0 || pos + n * size > bytes.length) throw new Error(`${what}: storage "${String(k)}" runs past the end of the file (truncated?)`);
    const data = bytes.subarray(pos, pos + n * size);
    s.bytes = !littleEndian && size > 1 ? byteSwapped(data, size) : data;
    pos += n * size;
  }
  for (const { view, root } of views) view.bytes = roots.get(root)!.bytes;
  return value;
}

function materialise(t: TorchTensorRef, what: string, name: string): HostTensor {
  const { storage, shape, stride } = t;
  if (!storage.bytes) throw new Error(`${what}: tensor "${name}" refers to storage "${storage.key}", which the file does not contain`);
  const size = DTYPE_BYTES[storage.dtype];
  const offset = storage.elementOffset + t.storageOffset;
  const available = Math.floor(storage.bytes.byteLength / size);
  if (shape.length !== stride.length) throw new Error(`${what}: tensor "${name}" has shape [${shape}] but strides [${stride}]`);
  let extent: number;
  try {
    extent = viewExtent(shape, stride, offset);
  } catch (e) {
    throw new Error(`${what}: tensor "${name}": ${(e as Error).message}`);
  }
  if (extent > available) {
    throw new Error(`${what}: tensor "${name}" (shape [${shape}], offset ${offset}) reads past its storage "${storage.key}" of ${available} elements (truncated?)`);
  }
  const n = numel(shape);
  const bytes = isContiguous(shape, stride)
    ? storage.bytes.subarray(offset * size, (offset + n) * size)
    : stridedToContiguous(storage.bytes, size, shape, stride, offset);
  return { dtype: storage.dtype, shape: [...shape], data: viewAs(storage.dtype, bytes) };
}

function organise(root: unknown, format: PthFile['format'], unwrap: readonly string[], what: string): PthFile {
  const tensors = new Map<string, HostTensor>();
  const extras = new Map<string, unknown>();
  const done = new Map<TorchTensorRef, HostTensor>(); // tied weights share one materialisation
  const topLevelKeys = root instanceof Map ? [...root.keys()].map(String) : [];
  let unwrapped: string | null = null;
  let body = root;
  if (root instanceof Map) {
    for (const k of unwrap) {
      if (root.get(k) instanceof Map) {
        unwrapped = k;
        body = root.get(k);
        for (const [key, v] of root) if (key !== k) extras.set(String(key), plain(v));
        break;
      }
    }
  }
  const walk = (v: unknown, path: string, depth = 0) => {
    if (depth > MAX_PTH_DEPTH) throw new Error(`${what}: containers nested more than ${MAX_PTH_DEPTH} levels deep (at "${path.slice(0, 80)}..."): not a state dict`);
    if (v instanceof TorchTensorRef) {
      let t = done.get(v);
      if (!t) {
        t = materialise(v, what, path);
        done.set(v, t);
      }
      tensors.set(path, t);
    } else if (v instanceof NumpyArray && v.dtype.kind !== 'O' && v.dtype.kind !== 'U' && v.dtype.kind !== 'S') {
      const a = decodeNumpyData(v.dtype, v.shape, v.fortranOrder, v.data, `${what}: "${path}"`);
      if (a.kind === 'numeric') tensors.set(path, a.tensor);
    } else if (v instanceof Map) {
      for (const [k, x] of v) walk(x, path ? `${path}.${String(k)}` : String(k), depth + 1);
    } else if (Array.isArray(v) && v.some((x) => x instanceof TorchTensorRef || x instanceof Map)) {
      v.forEach((x, i) => walk(x, path ? `${path}.${i}` : String(i), depth + 1));
    } else {
      extras.set(path, plain(v));
    }
  };
  walk(body, '');
  return { format, tensors, extras, topLevelKeys, unwrapped };
}

/** A JSON-like rendering of non-tensor values for reports (tensors are summarised, not loaded). */
function plain(v: unknown, depth = 0): unknown {
  if (depth > MAX_PTH_DEPTH) return '(nested too deeply)';
  const inner = (x: unknown) => plain(x, depth + 1);
  if (v instanceof TorchTensorRef) return `tensor ${v.storage.dtype} [${v.shape}]`;
  if (v instanceof NumpyScalar) {
    if (v.bytes.byteLength === 0) return null;
    try {
      const a = decodeNumpyData(v.dtype, [], false, v.bytes, 'numpy scalar');
      if (a.kind === 'numeric') {
        const x = a.tensor.data[0];
        return typeof x === 'bigint' ? (x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x) : x;
      }
      return a.values[0];
    } catch {
      return `numpy scalar ${v.dtype.descr}`;
    }
  }
  if (v instanceof NumpyArray) return `ndarray ${v.dtype.descr} [${v.shape}]`;
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[String(k)] = inner(x);
    return o;
  }
  if (v instanceof PyNamespace) return plain(v.attrs, depth);
  if (Array.isArray(v)) return v.map(inner);
  if (v instanceof Set) return [...v].map(inner);
  return v;
}
