// `v2l serve`'s HTTP server: the bundled page (static files read into memory once, served by exact name)
// and the JSON API over a Viewer.
//
//   GET  /api/info                              model, grid, stand-in flags, limits, queue
//   POST /api/tokenize          body: image bytes  the image's tokens, distances, alternatives, reconstruction
//   POST /api/tokenize?folder=N                 the same for image N of the --images folder
//   POST /api/decode            {image, local, global}  re-decoded image after token edits, PSNR
//   GET  /api/lookup?kind=local|global&q=word   vocabulary entries matching a word
//   GET  /api/codebook?q=&offset=&limit=        the global vocabulary, searched
//   GET  /api/codebook/ID/images                folder images whose global tokens include entry ID
//   GET  /api/folder, /api/folder/N/thumb       the --images folder's listing and thumbnails
//   POST /api/restore  {image | folder, task, protocol, m, n, copies}  starts a restoration job (with --llm)
//   GET  /api/restore/JOB/events                its progress as Server-Sent Events
//   POST /api/fewshot  {ways, shots, seed, protocol, induction}  one few-shot episode (with --llm, --fewshot-data)
//
// Every failure is JSON {error, status}: 4xx for bad input (with what is wrong), 503 + Retry-After when the
// job queue is full. POSTs must carry `x-v2l: 1`, which a cross-site page cannot send without a CORS
// preflight (never granted), so another site open in the browser cannot drive the server; requests whose
// Host is not the server's own name are refused (DNS rebinding).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { Viewer } from './viewer.js';
import { HttpError, parseJson, readBody, sendError, sendJson, type UploadBudget } from './http.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.png': 'image/png', '.svg': 'image/svg+xml', '.map': 'application/json; charset=utf-8',
};

/** The bundled front end: dist/web beside the compiled server, or the repository's dist/web under tsx. */
export function defaultWebRoot(): string {
  if (process.env.V2L_WEB_ROOT) return process.env.V2L_WEB_ROOT; // tests serve a fresh build
  const candidates = [fileURLToPath(new URL('../web/', import.meta.url)), fileURLToPath(new URL('../../dist/web/', import.meta.url))];
  const found = candidates.find((c) => existsSync(join(c, 'index.html')));
  if (!found) throw new Error(`the viewer's front end is not built (looked in ${candidates.join(', ')}); run \`npm run build\``);
  return found;
}

function loadAssets(root: string): Map<string, { body: Buffer; type: string }> {
  const assets = new Map<string, { body: Buffer; type: string }>();
  for (const name of readdirSync(root)) {
    const type = TYPES[extname(name)];
    if (type) assets.set(`/${name}`, { body: readFileSync(join(root, name)), type });
  }
  if (!assets.has('/index.html')) throw new Error(`${root} has no index.html: rebuild the front end (npm run build)`);
  assets.set('/', assets.get('/index.html')!);
  return assets;
}

export interface ServeOptions {
  viewer: Viewer;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  webRoot?: string;
  /** One line per request on stderr. */
  log?: boolean;
  /** Upload bytes held at once, all requests together (default 8 x the upload limit). */
  uploadBudgetBytes?: number;
}

export interface RunningServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

const intParam = (u: URL, name: string, dflt: number, min: number, max: number): number => {
  const v = u.searchParams.get(name);
  if (v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `"${name}" must be an integer in [${min}, ${max}] (got ${JSON.stringify(v)})`);
  return n;
};

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const viewer = opts.viewer;
  const assets = loadAssets(opts.webRoot ?? defaultWebRoot());
  const host = opts.host ?? '127.0.0.1';
  let allowedHosts: Set<string> = new Set();
  const uploads: UploadBudget = { held: 0, max: opts.uploadBudgetBytes ?? 8 * viewer.limits.maxUploadBytes };

  const api = async (req: IncomingMessage, res: ServerResponse, u: URL): Promise<void> => {
    const path = u.pathname;
    const method = req.method ?? 'GET';
    const want = (m: string) => {
      if (method !== m) throw new HttpError(405, `${path} takes ${m}, not ${method}`, { allow: m });
      if (m === 'POST' && req.headers['x-v2l'] !== '1') throw new HttpError(403, 'POST requests must carry the header "x-v2l: 1" (the page sends it)');
    };
    if (path === '/api/info') {
      want('GET');
      return sendJson(res, 200, viewer.info());
    }
    if (path === '/api/tokenize') {
      want('POST');
      if (u.searchParams.has('folder')) {
        req.resume();
        return sendJson(res, 200, await viewer.tokenizeFolderImage(intParam(u, 'folder', 0, 0, Number.MAX_SAFE_INTEGER)));
      }
      // Bytes held by uploads in flight are bounded (counted as they arrive, all requests together): a
      // burst of large bodies gets 503s, not the heap.
      const declared = Number(req.headers['content-length'] ?? NaN);
      const max = viewer.limits.maxUploadBytes;
      if (declared > max) await readBody(req, max, 'the upload'); // throws the 413 from the header alone
      if (Number.isFinite(declared) && uploads.held + declared > uploads.max) {
        throw new HttpError(503, `the server is busy receiving other uploads (${(uploads.held / 1048576).toFixed(1)} MB in flight); retry in a few seconds`, { 'retry-after': '2', connection: 'close' });
      }
      const body = await readBody(req, max, 'the upload', uploads);
      try {
        const name = (u.searchParams.get('name') ?? 'upload').replace(/[^\w. -]/g, '_').slice(0, 80) || 'upload';
        return sendJson(res, 200, await viewer.tokenizeBytes(body, name));
      } finally {
        uploads.held -= body.length;
      }
    }
    if (path === '/api/decode') {
      want('POST');
      const body = parseJson(await readBody(req, viewer.limits.maxJsonBytes, 'the JSON body'));
      return sendJson(res, 200, await viewer.decode(body));
    }
    if (path === '/api/lookup') {
      want('GET');
      return sendJson(res, 200, viewer.lookup(u.searchParams.get('kind') ?? '', (u.searchParams.get('q') ?? '').slice(0, 200), intParam(u, 'limit', 20, 1, 200)));
    }
    if (path === '/api/codebook') {
      want('GET');
      return sendJson(res, 200, viewer.codebookSearch((u.searchParams.get('q') ?? '').slice(0, 200), intParam(u, 'offset', 0, 0, 10_000_000), intParam(u, 'limit', 50, 1, 500)));
    }
    let m = /^\/api\/codebook\/(\d{1,9})\/images$/.exec(path);
    if (m) {
      want('GET');
      return sendJson(res, 200, viewer.entryImages(Number(m[1])));
    }
    if (path === '/api/restore') {
      want('POST');
      if (!viewer.restore) throw new HttpError(404, 'restoration needs an LLM model (--llm <gguf|url>, not a vocab-only file)');
      const body = parseJson(await readBody(req, viewer.limits.maxJsonBytes, 'the JSON body'));
      return sendJson(res, 202, await viewer.restore.start(body));
    }
    m = /^\/api\/restore\/([0-9a-f]{16})\/events$/.exec(path);
    if (m) {
      want('GET');
      if (!viewer.restore) throw new HttpError(404, 'restoration is not enabled on this server');
      viewer.restore.stream(m[1], res);
      return;
    }
    if (path === '/api/fewshot') {
      want('POST');
      if (!viewer.fewshot) throw new HttpError(404, 'few-shot episodes need an LLM model (--llm <gguf|url>) and a labelled dataset (--fewshot-data <dir>)');
      const body = parseJson(await readBody(req, viewer.limits.maxJsonBytes, 'the JSON body'));
      return sendJson(res, 200, await viewer.fewshot.run(body));
    }
    if (path === '/api/folder') {
      want('GET');
      return sendJson(res, 200, viewer.folderList());
    }
    m = /^\/api\/folder\/(\d{1,9})\/thumb$/.exec(path);
    if (m) {
      want('GET');
      const png = await viewer.thumbnail(Number(m[1]));
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length, 'cache-control': 'max-age=3600' });
      res.end(png);
      return;
    }
    throw new HttpError(404, `no API route ${path}`);
  };

  const server = createServer((req, res) => {
    const t0 = performance.now();
    res.on('finish', () => {
      if (opts.log) console.error(`${req.method} ${req.url} ${res.statusCode} ${(performance.now() - t0).toFixed(0)} ms`);
    });
    let u: URL;
    try {
      u = new URL(req.url ?? '/', 'http://x');
    } catch {
      return sendError(res, new HttpError(400, 'malformed request URL'));
    }
    const hostHeader = (req.headers.host ?? '').toLowerCase();
    if (allowedHosts.size && !allowedHosts.has(hostHeader)) {
      req.resume();
      return sendError(res, new HttpError(421, `requests must be addressed to this server (Host ${JSON.stringify(hostHeader)} is not one of its names)`));
    }
    if (u.pathname.startsWith('/api/')) {
      api(req, res, u).catch((e) => {
        // A body refused mid-stream: answer, then drop the connection rather than read the rest.
        if (e instanceof HttpError && e.headers.connection === 'close') res.on('finish', () => req.destroy());
        else req.resume();
        sendError(res, e);
      });
      return;
    }
    req.resume();
    const a = assets.get(u.pathname);
    if (!a || (req.method !== 'GET' && req.method !== 'HEAD')) return sendError(res, new HttpError(404, `no page ${u.pathname}`));
    res.writeHead(200, {
      'content-type': a.type, 'content-length': a.body.length, 'cache-control': 'no-cache',
      // The page loads nothing from elsewhere; images arrive as data: URLs.
      'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'",
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : a.body);
  });
  server.requestTimeout = 120_000;
  server.headersTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const wildcard = host === '0.0.0.0' || host === '::';
  // Behind a wildcard bind any Host may be legitimate (the user chose to expose it); else only our names.
  allowedHosts = wildcard ? new Set() : new Set([host, 'localhost', '127.0.0.1', '[::1]'].map((h) => `${h.includes(':') && !h.startsWith('[') ? `[${h}]` : h}:${port}`));
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    server,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
