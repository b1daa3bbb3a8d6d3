// A restricted Python unpickler: it parses the pickles that torch.save and NumPy write (protocols 0–5)
// and never executes anything. Every GLOBAL / STACK_GLOBAL / INST name is looked up in an allow-list of
// inert stand-ins written here in TypeScript (tensor rebuilders, OrderedDict, storage-type markers,
// NumPy's array reconstructor); any other name stops the parse with an error naming it. This is what
// makes it safe to open a `.pth` or an object `.npy` from the internet. Portable: bytes in, values out.
//
// Python values become: None -> null, bool -> boolean, int -> number (bigint beyond 2^53), float ->
// number, str -> string, bytes/bytearray -> Uint8Array, list and tuple -> Array (tuples frozen), dict and
// OrderedDict -> Map, set/frozenset -> Set; allowed globals produce the objects below.
import type { DType } from './dtypes.js';

/** A Python callable or class the allow-list knows, as an inert marker with an optional TS implementation. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    /** What calling it (REDUCE / NEWOBJ) does; absent for markers that are only passed around. */
    readonly call?: (args: unknown[], ctx: UnpickleContext) => unknown,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A torch storage type named in a pickle (torch.FloatStorage ...), mapped to its element type. */
export class TorchStorageType extends PyGlobal {
  constructor(name: string, readonly dtype: DType) {
    super('torch', name);
  }
}

/** Bytes of a torch storage; filled in when the file's layout delivers them (legacy files: after the pickle). */
export interface TorchStorage {
  key: string;
  dtype: DType;
  /** Element offset into `bytes` (legacy storage views), normally 0. */
  elementOffset: number;
  bytes?: Uint8Array;
}

/** A tensor as torch pickles it: a strided view of a storage. Materialised by ./pth.ts. */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorage,
    readonly storageOffset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** A NumPy dtype as pickled: numpy.dtype("f4") then a state that sets the byte order. */
export class NumpyDType {
  readonly kind: string;
  readonly itemsize: number;
  /** '<', '>', '|' (not applicable) or '=' (native, little-endian on every machine that wrote these files). */
  byteorder: string;
  constructor(spec: string) {
    const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(spec);
    if (!m) throw new Error(`numpy dtype "${spec}" is not supported`);
    this.byteorder = m[1] || '=';
    this.kind = m[2];
    this.itemsize = m[3] ? parseInt(m[3], 10) : 0;
  }
  /** The .npy header spelling: "<f4", "|u1", "|O", "<U8" (itemsize in characters for U). */
  get descr(): string {
    if (this.kind === 'O') return '|O';
    const noOrder = 'SVb'.includes(this.kind) || (this.itemsize <= 1 && this.kind !== 'U');
    const order = noOrder ? '|' : this.byteorder === '=' || this.byteorder === '|' ? '<' : this.byteorder;
    return `${order}${this.kind}${this.itemsize}`;
  }
}

/** A NumPy ndarray as pickled: its data is raw bytes (numeric, unicode) or a list of Python values (object). */
export class NumpyArray {
  shape: number[] = [];
  dtype: NumpyDType = new NumpyDType('<f8');
  fortranOrder = false;
  data: Uint8Array | unknown[] = new Uint8Array(0);
}

/** A NumPy scalar (numpy.float64(0.5) ...): its dtype and raw bytes. */
export class NumpyScalar {
  constructor(readonly dtype: NumpyDType, readonly bytes: Uint8Array) {}
}

/**
 * An `argparse.Namespace` (the reference's training checkpoints pickle their command-line `args` beside
 * the state dict): its attributes as plain values, nothing executed.
 */
export class PyNamespace {
  readonly attrs = new Map<string, unknown>();
}

export interface UnpickleContext {
  /** Names the file in errors. */
  what: string;
}

export interface UnpickleOptions {
  /** Names the file in errors ("refusing to load <what>: ..."). */
  what?: string;
  /** Resolves persistent ids (torch storages); without it a persistent id is an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Replaces the default allow-list (keyed "module.name"). */
  globals?: ReadonlyMap<string, PyGlobal>;
}

export interface UnpickleResult {
  value: unknown;
  /** Byte offset just past STOP: legacy torch files hold several pickles back to back. */
  end: number;
}

function toInt(v: unknown, what: string, ctx: UnpickleContext): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new Error(`${ctx.what}: expected an integer for ${what}, got ${describe(v)}`);
}

function intList(v: unknown, what: string, ctx: UnpickleContext): number[] {
  if (!Array.isArray(v)) throw new Error(`${ctx.what}: expected a tuple for ${what}, got ${describe(v)}`);
  return v.map((x, i) => toInt(x, `${what}[${i}]`, ctx));
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal) return v.qualname;
  if (Array.isArray(v)) return `tuple/list of ${v.length}`;
  if (v instanceof Map) return 'dict';
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (typeof v === 'object') return v.constructor.name;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}

const STORAGE_TYPES: [string, DType][] = [
  ['FloatStorage', 'F32'], ['HalfStorage', 'F16'], ['BFloat16Storage', 'BF16'], ['DoubleStorage', 'F64'],
  ['LongStorage', 'I64'], ['IntStorage', 'I32'], ['ShortStorage', 'I16'], ['CharStorage', 'I8'],
  ['ByteStorage', 'U8'], ['BoolStorage', 'BOOL'],
];

function rebuildTensor(storage: unknown, offset: unknown, size: unknown, stride: unknown, ctx: UnpickleContext): TorchTensorRef {
  if (storage instanceof TorchTensorRef) storage = storage.storage;
  if (!storage || typeof storage !== 'object' || !('dtype' in storage) || !('key' in storage)) {
    throw new Error(`${ctx.what}: tensor rebuild got ${describe(storage)} where a storage belongs`);
  }
  return new TorchTensorRef(storage as TorchStorage, toInt(offset, 'storage offset', ctx), intList(size, 'tensor size', ctx), intList(stride, 'tensor stride', ctx));
}

function numpyReconstruct(): NumpyArray {
  return new NumpyArray();
}

/** Python's `_codecs.encode(str, 'latin1')`, which protocol-2 pickles use to carry bytes. */
function codecsEncode(args: unknown[], ctx: UnpickleContext): Uint8Array {
  const [s, enc] = args;
  if (typeof s !== 'string') throw new Error(`${ctx.what}: _codecs.encode expects a str`);
  const e = typeof enc === 'string' ? enc.toLowerCase().replace('_', '-') : 'utf-8';
  if (e === 'latin1' || e === 'latin-1' || e === 'iso-8859-1') {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) throw new Error(`${ctx.what}: _codecs.encode latin1 of a non-latin1 character`);
      out[i] = c;
    }
    return out;
  }
  if (e === 'utf-8' || e === 'utf8') return new TextEncoder().encode(s);
  throw new Error(`${ctx.what}: _codecs.encode with encoding ${String(enc)} is not supported`);
}

function makeAllowList(): Map<string, PyGlobal> {
  const g = new Map<string, PyGlobal>();
  const add = (x: PyGlobal) => g.set(x.qualname, x);
  for (const [name, dtype] of STORAGE_TYPES) add(new TorchStorageType(name, dtype));
  add(new PyGlobal('torch._utils', '_rebuild_tensor_v2', (a, ctx) => rebuildTensor(a[0], a[1], a[2], a[3], ctx)));
  add(new PyGlobal('torch._utils', '_rebuild_tensor', (a, ctx) => rebuildTensor(a[0], a[1], a[2], a[3], ctx)));
  add(new PyGlobal('torch._utils', '_rebuild_parameter', (a) => a[0]));
  add(new PyGlobal('torch._utils', '_rebuild_parameter_with_state', (a) => a[0]));
  // _rebuild_from_type_v2(func, new_type, args, state): func is itself an allowed global, so calling it is safe.
  add(new PyGlobal('torch._tensor', '_rebuild_from_type_v2', (a, ctx) => {
    const [fn, , args] = a;
    if (!(fn instanceof PyGlobal) || !fn.call || !Array.isArray(args)) throw new Error(`${ctx.what}: malformed _rebuild_from_type_v2`);
    return fn.call(args, ctx);
  }));
  add(new PyGlobal('torch', 'Tensor'));
  add(new PyGlobal('torch.nn.parameter', 'Parameter'));
  add(new PyGlobal('torch', 'Size', (a) => Object.freeze([...((a[0] as unknown[]) ?? [])])));
  add(new PyGlobal('collections', 'OrderedDict', (a, ctx) => {
    const m = new Map<unknown, unknown>();
    if (a.length && Array.isArray(a[0])) {
      for (const kv of a[0]) {
        if (!Array.isArray(kv) || kv.length !== 2) throw new Error(`${ctx.what}: OrderedDict expects (key, value) pairs`);
        m.set(kv[0], kv[1]);
      }
    }
    return m;
  }));
  for (const mod of ['numpy.core.multiarray', 'numpy._core.multiarray']) {
    add(new PyGlobal(mod, '_reconstruct', numpyReconstruct));
    add(new PyGlobal(mod, 'scalar', (a, ctx) => {
      const [dt, bytes] = a;
      if (!(dt instanceof NumpyDType) || !(bytes instanceof Uint8Array)) throw new Error(`${ctx.what}: malformed numpy scalar`);
      return new NumpyScalar(dt, bytes);
    }));
  }
  add(new PyGlobal('numpy', 'ndarray'));
  add(new PyGlobal('numpy', 'dtype', (a, ctx) => {
    if (typeof a[0] !== 'string') throw new Error(`${ctx.what}: numpy.dtype of ${describe(a[0])} is not supported`);
    try {
      return new NumpyDType(a[0]);
    } catch (e) {
      throw new Error(`${ctx.what}: ${(e as Error).message}`);
    }
  }));
  add(new PyGlobal('_codecs', 'encode', codecsEncode));
  add(new PyGlobal('argparse', 'Namespace', (a, ctx) => {
    if (a.length) throw new Error(`${ctx.what}: argparse.Namespace with positional arguments`);
    return new PyNamespace();
  }));
  // Plain containers, should a pickle name them rather than use the dedicated opcodes.
  add(new PyGlobal('builtins', 'list', (a) => [...((a[0] as unknown[]) ?? [])]));
  add(new PyGlobal('builtins', 'tuple', (a) => Object.freeze([...((a[0] as unknown[]) ?? [])])));
  add(new PyGlobal('builtins', 'set', (a) => new Set((a[0] as unknown[]) ?? [])));
  add(new PyGlobal('builtins', 'frozenset', (a) => new Set((a[0] as unknown[]) ?? [])));
  add(new PyGlobal('builtins', 'dict', (a) => new Map((a[0] as [unknown, unknown][] | undefined) ?? [])));
  add(new PyGlobal('builtins', 'bytearray', (a) => (a[0] instanceof Uint8Array ? a[0] : new Uint8Array(0))));
  return g;
}

/** The names a pickle may use, each an inert TypeScript stand-in (nothing from Python is run). */
export const ALLOWED_GLOBALS: ReadonlyMap<string, PyGlobal> = makeAllowList();

// Python 2 pickles (protocol 0-2) spell some modules differently.
const RENAMED: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

/** BUILD: sets an object's state (what `obj.__setstate__(state)` would do for the allowed types). */
function build(obj: unknown, state: unknown, ctx: UnpickleContext): void {
  if (obj instanceof NumpyArray) {
    // ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata))
    if (!Array.isArray(state) || state.length < 4) throw new Error(`${ctx.what}: malformed ndarray state`);
    const s = state.length === 5 ? state.slice(1) : state;
    obj.shape = intList(s[0], 'ndarray shape', ctx);
    if (!(s[1] instanceof NumpyDType)) throw new Error(`${ctx.what}: ndarray dtype is ${describe(s[1])}`);
    obj.dtype = s[1];
    obj.fortranOrder = Boolean(s[2]);
    const raw = s[3];
    if (typeof raw === 'string') obj.data = codecsEncode([raw, 'latin1'], ctx);
    else if (raw instanceof Uint8Array || Array.isArray(raw)) obj.data = raw;
    else throw new Error(`${ctx.what}: ndarray data is ${describe(raw)}`);
    return;
  }
  if (obj instanceof NumpyDType) {
    // dtype.__setstate__((version, byteorder, subdescr, names, fields, elsize, alignment, flags))
    if (Array.isArray(state) && typeof state[1] === 'string') obj.byteorder = state[1];
    if (Array.isArray(state) && (state[3] !== null || state[4] !== null)) throw new Error(`${ctx.what}: structured numpy dtypes are not supported`);
    return;
  }
  if (obj instanceof Map) {
    // OrderedDict / dict subclasses: torch puts `_metadata` (module versions) here. Kept out of the
    // mapping's entries; nothing a reader needs.
    return;
  }
  if (obj instanceof TorchTensorRef) return; // tensor subclasses' Python attributes: ignored
  if (obj instanceof PyNamespace) {
    // Namespace state is its __dict__ (or a (dict, slots) pair).
    const dict = Array.isArray(state) ? state[0] : state;
    if (!(dict instanceof Map)) throw new Error(`${ctx.what}: argparse.Namespace state is ${describe(state)}`);
    for (const [k, v] of dict) obj.attrs.set(String(k), v);
    return;
  }
  throw new Error(`${ctx.what}: pickle sets the state of ${describe(obj)}, which this reader does not support`);
}

/**
 * Parses one pickle starting at `offset`. Throws on any global outside the allow-list, on truncated
 * data and on opcodes that would need Python (extension registry, out-of-band buffers).
 */
export function unpickle(bytes: Uint8Array, offset = 0, opts: UnpickleOptions = {}): UnpickleResult {
  const ctx: UnpickleContext = { what: opts.what ?? 'pickle data' };
  const globals = opts.globals ?? ALLOWED_GLOBALS;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = offset;

  const fail = (msg: string): never => {
    throw new Error(`${ctx.what}: ${msg} (pickle byte ${pos})`);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > bytes.length) fail('pickle data truncated');
  };
  const u8 = () => {
    need(1);
    return bytes[pos++];
  };
  const u16 = () => {
    need(2);
    const v = dv.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = () => {
    need(4);
    const v = dv.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = () => {
    need(4);
    const v = dv.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8);
    const v = dv.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length too large');
    return Number(v);
  };
  const take = (n: number) => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('pickle data truncated (no newline)');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = () => {
    if (stack.length === 0) fail('pickle stack underflow');
    return stack.pop();
  };
  const top = () => {
    if (stack.length === 0) fail('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) fail('pickle MARK missing');
    const items = stack.splice(m!);
    return items;
  };
  const longFromBytes = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= -BigInt(Number.MAX_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const resolve = (module: string, name: string): PyGlobal => {
    const mod = RENAMED[module] ?? module;
    const g = globals.get(`${mod}.${name}`);
    if (!g) {
      throw new Error(
        `refusing to load ${ctx.what}: pickle names global "${mod}.${name}", which is not one of the tensor-rebuilding ` +
          `globals torch.save and NumPy write (the file is parsed, never executed)`,
      );
    }
    return g;
  };
  const callGlobal = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof PyGlobal) || !fn.call) fail(`pickle calls ${describe(fn)}, which is not callable here`);
    if (!Array.isArray(args)) fail(`pickle call arguments are ${describe(args)}, not a tuple`);
    return (fn as PyGlobal).call!(args as unknown[], ctx);
  };
  const setItems = (target: unknown, items: unknown[]) => {
    if (!(target instanceof Map)) fail(`SETITEMS on ${describe(target)}`);
    for (let i = 0; i + 1 < items.length; i += 2) (target as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[]) => {
    if (!Array.isArray(target) || Object.isFrozen(target)) fail(`APPENDS on ${describe(target)}`);
    for (const x of items) (target as unknown[]).push(x);
  };
  const persistent = (pid: unknown) => {
    if (!opts.persistentLoad) fail('pickle uses a persistent id, which this file type does not allow');
    return opts.persistentLoad!(pid);
  };
  const parseIntLine = (s: string): number | bigint | boolean => {
    if (s === '00') return false;
    if (s === '01') return true;
    const t = s.endsWith('L') ? s.slice(0, -1) : s;
    if (!/^[-+]?\d+$/.test(t)) fail(`bad integer literal "${s.slice(0, 40)}"`);
    const b = BigInt(t);
    return b >= -BigInt(Number.MAX_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  };
  const stringLiteral = (s: string): string => {
    // Protocol 0 STRING: a Python repr, quoted with ' or ". Only simple escapes are handled.
    const q = s[0];
    if ((q !== "'" && q !== '"') || s[s.length - 1] !== q) fail('bad STRING literal');
    return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_m, e: string) => {
      if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
      return ({ n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"' } as Record<string, string>)[e] ?? `\\${e}`;
    });
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME: framing is only a hint; the bytes follow inline
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length) fail('pickle ends with an unbalanced stack');
        return { value: stack[0], end: pos };
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x8a: stack.push(longFromBytes(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(longFromBytes(take(n)));
        break;
      }
      case 0x49: stack.push(parseIntLine(line())); break; // INT
      case 0x4c: stack.push(parseIntLine(line())); break; // LONG
      case 0x46: { // FLOAT
        const s = line();
        const v = Number(s);
        if (Number.isNaN(v) && !/nan/i.test(s)) fail(`bad FLOAT literal "${s}"`);
        stack.push(v);
        break;
      }
      case 0x47: { // BINFLOAT (big-endian)
        need(8);
        stack.push(dv.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58: stack.push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x56: stack.push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string, b: string) => String.fromCodePoint(parseInt(a ?? b, 16)))); break; // UNICODE (raw-unicode-escape)
      case 0x55: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINSTRING (Python 2 str, read as UTF-8 like torch.load)
      case 0x54: { // BINSTRING
        const n = i32();
        if (n < 0) fail('negative BINSTRING length');
        stack.push(utf8.decode(take(n)));
        break;
      }
      case 0x53: stack.push(stringLiteral(line())); break; // STRING
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x97: fail('pickle uses out-of-band buffers (NEXT_BUFFER), which a file cannot carry'); break;
      case 0x98: break; // READONLY_BUFFER: no-op here
      case 0x29: stack.push(Object.freeze([])); break; // EMPTY_TUPLE
      case 0x85: stack.push(Object.freeze([pop()])); break; // TUPLE1
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(Object.freeze([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(Object.freeze([a, b, c]));
        break;
      }
      case 0x74: stack.push(Object.freeze(popMark())); break; // TUPLE
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { // APPEND
        const x = pop();
        appendItems(top(), [x]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { // DICT
        const m = new Map();
        setItems(m, popMark());
        stack.push(m);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on ${describe(s)}`);
        for (const x of items) (s as Set<unknown>).add(x);
        break;
      }
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      case 0x67: stack.push(memoGet(parseInt(line(), 10))); break; // GET
      case 0x68: stack.push(memoGet(u8())); break; // BINGET
      case 0x6a: stack.push(memoGet(u32())); break; // LONG_BINGET
      case 0x70: memo.set(parseInt(line(), 10), top()); break; // PUT
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(resolve(module, name));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x69: { // INST module\nname\n with args from MARK
        const module = line();
        const name = line();
        const g = resolve(module, name);
        stack.push(callGlobal(g, popMark()));
        break;
      }
      case 0x6f: { // OBJ: MARK cls args...
        const items = popMark();
        if (!items.length) fail('OBJ without a class');
        stack.push(callGlobal(items[0], items.slice(1)));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(callGlobal(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args), for allowed classes the same as a call
        const args = pop();
        const cls = pop();
        stack.push(callGlobal(cls, args));
        break;
      }
      case 0x92: { // NEWOBJ_EX
        pop(); // kwargs
        const args = pop();
        const cls = pop();
        stack.push(callGlobal(cls, args));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        build(top(), state, ctx);
        break;
      }
      case 0x50: stack.push(persistent(line())); break; // PERSID
      case 0x51: stack.push(persistent(pop())); break; // BINPERSID
      case 0x82: case 0x83: case 0x84:
        fail('pickle uses the copyreg extension registry (EXT1/2/4), which this reader refuses');
        break;
      default:
        fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }

  function memoGet(i: number): unknown {
    if (!memo.has(i)) fail(`pickle memo ${i} is undefined`);
    return memo.get(i);
  }
}
