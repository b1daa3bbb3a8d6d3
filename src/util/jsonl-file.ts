// Append-only JSON-lines files, the form every resumable output of v2l takes (task records, the codebook
// expansion journal): one value per line, appended and fsynced before the next unit of work, so that a
// kill at any moment leaves whole lines and at most one torn last line, which a reader skips and the next
// writer cuts off. Node edge.
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';

/** The complete lines of a file, streamed in 1 MiB chunks: [line number (1-based), text, byte offset after its newline]. */
export function* completeLines(path: string): Generator<[number, string, number]> {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let carry = Buffer.alloc(0);
    let pos = 0;
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, null);
      if (got === 0) return; // what is left in carry has no newline: torn or empty
      let chunk = Buffer.concat([carry, buf.subarray(0, got)]);
      let nl: number;
      while ((nl = chunk.indexOf(10)) >= 0) {
        pos += nl + 1;
        yield [++n, chunk.subarray(0, nl).toString('utf8'), pos];
        chunk = chunk.subarray(nl + 1);
      }
      carry = Buffer.from(chunk);
    }
  } finally {
    closeSync(fd);
  }
}

/** Writes one value as a JSON line to an open file and fsyncs it before returning. */
export function appendJsonLine(fd: number, value: unknown): void {
  const bytes = Buffer.from(JSON.stringify(value) + '\n', 'utf8');
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
  fsyncSync(fd);
}
