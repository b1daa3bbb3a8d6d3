// A GGUF file is checked before node-llama-cpp loads it or its vocabulary is read: node-llama-cpp's
// header reader returns garbage for a truncated file (a 100-byte cut of stories260K gave a 512-token
// "vocabulary") and its loader then fails with "Cannot read properties of undefined (reading
// 'architecture')". Node edge.
import { statSync } from 'node:fs';

/** GGUF files start with these four bytes. */
const MAGIC = 'GGUF';

/** ggml type id -> [elements per block, bytes per block] (ggml.c's type traits), for the types models use. */
const GGML_BLOCK: Record<number, [number, number]> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 36],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292], 30: [1, 2],
};

/** Throws a clear error when `path` is not a whole GGUF file (missing, not GGUF, header cut short). */
export async function checkGgufFile(path: string): Promise<void> {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw new Error(`LLM model file not found: ${path}`);
  }
  const { openSync, readSync, closeSync } = await import('node:fs');
  const head = Buffer.alloc(4);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  if (head.toString('latin1') !== MAGIC) throw new Error(`${path} is not a GGUF file (it does not start with "GGUF"; ${size} bytes)`);
  const { readGgufFileInfo } = await import('node-llama-cpp'); // loaded on first use, not at import
  let info: Awaited<ReturnType<typeof readGgufFileInfo>>;
  try {
    info = await readGgufFileInfo(path, { readTensorInfo: true });
  } catch (err) {
    throw new Error(`${path}: unreadable GGUF header (${err instanceof Error ? err.message : String(err)}); the file is damaged or cut short (${size} bytes)`);
  }
  // The header (metadata and tensor table) ends at infoEndOffset, padded to the alignment (32 unless
  // general.alignment says otherwise) before the tensor data.
  const alignment = Number((info.metadata as { general?: { alignment?: number } }).general?.alignment ?? 32);
  if (size + alignment < Number(info.infoEndOffset)) {
    throw new Error(`${path} is cut short: ${size} bytes, but its GGUF header alone takes ${info.infoEndOffset}; download or copy it again`);
  }
  // The tensor data: the tensor at the largest offset must end within the file (types whose size is
  // known here; others are left to llama.cpp).
  const last = (info.tensorInfo ?? []).reduce<(typeof info.tensorInfo & object)[number] | null>((m, t) => (m === null || t.offset > m.offset ? t : m), null);
  const block = last ? GGML_BLOCK[last.ggmlType as number] : undefined;
  if (last && block) {
    const elements = last.dimensions.reduce<number>((a, d) => a * Number(d), 1);
    const start = Math.ceil(Number(info.infoEndOffset) / alignment) * alignment;
    const end = start + Number(last.offset) + (elements / block[0]) * block[1];
    if (size < end) throw new Error(`${path} is cut short: ${size} bytes, but its tensors end at byte ${end} (tensor ${last.name}); download or copy it again`);
  }
  if (typeof (info.metadata as { general?: { architecture?: unknown } }).general?.architecture !== 'string') {
    throw new Error(`${path}: the GGUF header names no general.architecture: not a model file llama.cpp can load (damaged or cut short, ${size} bytes)`);
  }
}
