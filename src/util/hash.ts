// sha256 of bytes, strings and files, as lower-case hex: the one helper every manifest, cache key and
// fingerprint uses. Files are streamed (a 4 GB model is never held in memory).
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

/** sha256 of bytes or a UTF-8 string, hex. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** sha256 of a file's contents, hex, read in 4 MiB chunks. */
export function sha256File(path: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}
