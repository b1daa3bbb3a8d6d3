// A zip reader for torch.save archives: reads the central directory (ZIP64 included) and returns
// each entry's bytes. torch writes entries stored (uncompressed) and 64-byte aligned, so those are
// returned as views into the file without copying — a 98 MB codebook is not duplicated in memory.
// Deflated entries (a re-zipped file) are inflated with fflate. Portable: bytes in. With `verify`, each
// entry's CRC-32 and size are checked against the central directory (a zip the user gives: a damaged
// entry is named, not passed on).
import { inflateSync } from 'fflate';
import { crc32 } from './crc32.js';

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

/** Entry name -> bytes (views into `bytes` for stored entries). Throws naming `what` on damage. */
export function readZip(bytes: Uint8Array, what: string, opts: { verify?: boolean } = {}): Map<string, Uint8Array> {
  const bad = (msg: string): never => {
    throw new Error(`${what}: cannot read the zip archive (truncated or corrupt file?): ${msg}`);
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (p: number) => dv.getUint16(p, true);
  const u32 = (p: number) => dv.getUint32(p, true);
  const u64 = (p: number) => {
    const v = dv.getBigUint64(p, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad('offset too large');
    return Number(v);
  };
  // The end-of-central-directory record sits in the last 22 + 65535 bytes.
  let eocd = -1;
  for (let p = bytes.length - 22; p >= Math.max(0, bytes.length - 22 - 65535); p--) {
    if (u32(p) === EOCD) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) bad('no end-of-central-directory record');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (eocd >= 20 && u32(eocd - 20) === ZIP64_LOCATOR) {
    const z = u64(eocd - 20 + 8);
    if (z + 56 > bytes.length || u32(z) !== ZIP64_EOCD) bad('ZIP64 end record missing');
    count = u64(z + 32);
    cdSize = u64(z + 40);
    cdOffset = u64(z + 48);
  }
  if (cdOffset + cdSize > bytes.length) bad('central directory runs past the end');
  const names = new TextDecoder();
  const entries = new Map<string, Uint8Array>();
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || u32(p) !== CENTRAL) bad(`central directory entry ${i} is damaged`);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let csize = u32(p + 20);
    let usize = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let local = u32(p + 42);
    const name = names.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extra field: the 64-bit values, in this order, for the 32-bit fields that are saturated.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = u16(e);
      const len = u16(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (usize === 0xffffffff) {
          usize = u64(q);
          q += 8;
        }
        if (csize === 0xffffffff) {
          csize = u64(q);
          q += 8;
        }
        if (local === 0xffffffff) local = u64(q);
      }
      e += 4 + len;
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (local + 30 > bytes.length || u32(local) !== LOCAL) bad(`local header of "${name}" is damaged`);
    const start = local + 30 + u16(local + 26) + u16(local + 28);
    if (start + csize > bytes.length) bad(`"${name}" runs past the end of the file`);
    const raw = bytes.subarray(start, start + csize);
    let data: Uint8Array = raw;
    if (method === 8) {
      try {
        data = inflateSync(raw, { out: new Uint8Array(usize) });
      } catch (e) {
        bad(`"${name}" does not inflate: ${(e as Error).message}`);
      }
    } else if (method !== 0) bad(`"${name}" uses compression method ${method}`);
    if (opts.verify && (data.length !== usize || crc32(data) !== crc)) bad(`"${name}" is damaged (its ${data.length !== usize ? 'size' : 'CRC-32'} does not match the archive's directory)`);
    entries.set(name, data);
  }
  return entries;
}
