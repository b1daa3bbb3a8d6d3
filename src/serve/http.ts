// Small HTTP helpers of the viewer's server: errors that carry their status, JSON replies, and request
// bodies read with a byte limit (a body over the limit is refused as soon as its declared or received
// size exceeds it, without holding it in memory).
import type { IncomingMessage, ServerResponse } from 'node:http';

export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, e: unknown): void {
  const err = e instanceof HttpError ? e : new HttpError(500, `internal error: ${(e as Error)?.message ?? String(e)}`);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, { error: err.message, status: err.status }, err.headers);
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(n < 1024 * 1024 ? 2 : 1)} MB`;

/** Bytes held by bodies being read, all requests together, and the most allowed. */
export interface UploadBudget {
  held: number;
  max: number;
}

/**
 * Reads the whole body, refusing (413) one over `maxBytes`: by its Content-Length first, else as it
 * streams. With a `budget`, the bytes read are counted in it as they arrive (503 when it is full); the
 * caller gives them back (`budget.held -= body.length`) once done with the body.
 */
export function readBody(req: IncomingMessage, maxBytes: number, what = 'request body', budget?: UploadBudget): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    return Promise.reject(new HttpError(413, `${what} is ${mb(Number(declared))}; the limit is ${mb(maxBytes)}`, { connection: 'close' }));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (failed) {
        // Refused: the rest is read and dropped so that the client, still sending, gets the 413 (a reset
        // would hide it), up to 4x the limit; past that the connection is cut.
        if (size > 4 * maxBytes) req.destroy();
        return;
      }
      const refuse = (e: HttpError) => {
        failed = true;
        if (budget) budget.held -= size - c.length;
        chunks.length = 0;
        reject(e);
      };
      if (size > maxBytes) return refuse(new HttpError(413, `${what} exceeds the limit of ${mb(maxBytes)}`));
      if (budget && budget.held + c.length > budget.max) {
        return refuse(new HttpError(503, `the server is busy receiving other uploads (${mb(budget.held)} in flight); retry in a few seconds`, { 'retry-after': '2' }));
      }
      if (budget) budget.held += c.length;
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks, size));
    });
    const broken = (why: string) => {
      if (failed) return;
      failed = true;
      if (budget) budget.held -= size;
      reject(new HttpError(400, `request body could not be read: ${why}`));
    };
    req.on('error', (e) => broken(e.message));
    req.on('aborted', () => broken('the client went away'));
  });
}

/** Parses a JSON body (already size-limited) into an object, or 400. */
export function parseJson(body: Buffer): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'request body must be a JSON object');
  return v as Record<string, unknown>;
}
