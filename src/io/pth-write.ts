// Writes tensors as PyTorch's torch.save does (zip layout, pickle protocol 2), so that `torch.load`
// reads a v2l checkpoint as an ordinary state dict: `{'state_dict': OrderedDict(name -> tensor)}` or a
// bare tensor. Only what a state dict needs is emitted: OrderedDict, torch._utils._rebuild_tensor_v2,
// and the typed storage classes — the same globals ./pickle.ts accepts. Portable: bytes out.
import { zipSync } from 'fflate';
import type { DType, HostTensor } from './dtypes.js';

const STORAGE: Record<DType, string> = {
  F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', F64: 'DoubleStorage', I64: 'LongStorage',
  I32: 'IntStorage', I16: 'ShortStorage', I8: 'CharStorage', U8: 'ByteStorage', BOOL: 'BoolStorage',
};

/** A tiny protocol-2 pickle emitter: just the opcodes a state dict needs. */
class Pickler {
  private parts: number[] = [];
  private memo = new Map<string, number>();
  byte(...b: number[]): void { this.parts.push(...b); }
  u32(n: number): void { this.byte(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff); }
  proto(): void { this.byte(0x80, 2); }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.byte(0x58); // BINUNICODE
    this.u32(b.length);
    for (const x of b) this.byte(x);
  }
  int(n: number): void {
    if (n >= 0 && n < 256) this.byte(0x4b, n); // BININT1
    else if (n >= 0 && n < 65536) this.byte(0x4d, n & 0xff, n >> 8); // BININT2
    else if (n >= -2147483648 && n <= 2147483647) { this.byte(0x4a); this.u32(n >>> 0); } // BININT
    else throw new Error(`pickle: integer ${n} out of range`);
  }
  global(module: string, name: string): void {
    const key = `${module}.${name}`;
    const m = this.memo.get(key);
    if (m !== undefined) { this.byte(0x68, m); return; } // BINGET
    const text = new TextEncoder().encode(`${module}\n${name}\n`);
    this.byte(0x63, ...text); // GLOBAL
    const idx = this.memo.size;
    if (idx > 255) throw new Error('pickle: memo overflow');
    this.memo.set(key, idx);
    this.byte(0x71, idx); // BINPUT
  }
  tuple(items: (() => void)[]): void {
    if (items.length === 0) { this.byte(0x29); return; } // EMPTY_TUPLE
    this.byte(0x28); // MARK
    for (const it of items) it();
    this.byte(0x74); // TUPLE
  }
  bytes(): Uint8Array { return Uint8Array.from(this.parts); }
}

function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

function emitTensor(p: Pickler, t: HostTensor, key: string): void {
  p.global('torch._utils', '_rebuild_tensor_v2');
  p.tuple([
    () => {
      // Persistent id ('storage', storage_type, key, location, numel) resolved by torch.load.
      p.tuple([() => p.str('storage'), () => p.global('torch', STORAGE[t.dtype]), () => p.str(key), () => p.str('cpu'), () => p.int(t.data.length)]);
      p.byte(0x51); // BINPERSID
    },
    () => p.int(0),
    () => p.tuple(t.shape.map((d) => () => p.int(d))),
    () => p.tuple(contiguousStrides(t.shape).map((d) => () => p.int(d))),
    () => p.byte(0x89), // NEWFALSE: requires_grad
    () => { p.global('collections', 'OrderedDict'); p.byte(0x29, 0x52); }, // backward hooks: OrderedDict()
  ]);
  p.byte(0x52); // REDUCE
}

/**
 * torch.save-compatible bytes. `tensors` given as a Map becomes an OrderedDict, wrapped as
 * `{'state_dict': ...}` when `wrapStateDict` is set; a single HostTensor is saved bare.
 */
export function serializePth(tensors: Map<string, HostTensor> | HostTensor, opts: { wrapStateDict?: boolean; archiveName?: string } = {}): Uint8Array {
  const p = new Pickler();
  const storages: [string, HostTensor][] = [];
  p.proto();
  if (tensors instanceof Map) {
    if (opts.wrapStateDict) { p.byte(0x7d, 0x28); p.str('state_dict'); } // EMPTY_DICT MARK key
    p.global('collections', 'OrderedDict');
    p.byte(0x29, 0x52); // EMPTY_TUPLE REDUCE -> OrderedDict()
    if (tensors.size) {
      p.byte(0x28); // MARK
      for (const [name, t] of tensors) {
        const key = String(storages.length);
        storages.push([key, t]);
        p.str(name);
        emitTensor(p, t, key);
      }
      p.byte(0x75); // SETITEMS
    }
    if (opts.wrapStateDict) p.byte(0x75); // SETITEMS on the outer dict
  } else {
    storages.push(['0', tensors]);
    emitTensor(p, tensors, '0');
  }
  p.byte(0x2e); // STOP
  const dir = opts.archiveName ?? 'archive';
  const files: Record<string, Uint8Array | [Uint8Array, { level: 0 }]> = {
    [`${dir}/data.pkl`]: [p.bytes(), { level: 0 }],
    [`${dir}/byteorder`]: [new TextEncoder().encode('little'), { level: 0 }],
  };
  for (const [key, t] of storages) files[`${dir}/data/${key}`] = [new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), { level: 0 }];
  files[`${dir}/version`] = [new TextEncoder().encode('3\n'), { level: 0 }];
  return zipSync(files);
}
