// `v2l serve --static`: serves the in-browser build (dist/static, `npm run build`) as plain files, with
// the headers that make the page cross-origin isolated (COOP same-origin + COEP require-corp), which is
// what gives wasm its threads (SharedArrayBuffer) in onnxruntime-web and wllama. Nothing is computed
// here: the models are the user's files, loaded by the page. Files are listed once at start and served by
// exact name (no path is built from a request), streamed (the wasm runtimes are tens of MB).
import { createServer, type Server } from 'node:http';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.wasm': 'application/wasm', '.map': 'application/json', '.json': 'application/json',
};

/** Headers of every answer: cross-origin isolation, and a CSP allowing the page's own files, wasm and its workers. */
export const STATIC_HEADERS: Record<string, string> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'content-security-policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' blob:; worker-src 'self' blob:; img-src 'self' data: blob:; " +
    "connect-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function defaultStaticRoot(): string {
  return fileURLToPath(new URL('../../dist/static/', import.meta.url));
}

export interface StaticServer {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

function listFiles(root: string): Map<string, { path: string; size: number }> {
  const out = new Map<string, { path: string; size: number }>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.set(`/${relative(root, p).split(sep).join('/')}`, { path: p, size: statSync(p).size });
    }
  };
  walk(root);
  return out;
}

export async function startStaticServer(opts: { root?: string; host?: string; port?: number; log?: boolean } = {}): Promise<StaticServer> {
  const root = opts.root ?? defaultStaticRoot();
  let files: Map<string, { path: string; size: number }>;
  try {
    files = listFiles(root);
  } catch {
    throw new Error(`no in-browser build at ${root}: run \`npm run build\` (it writes dist/static), or give the folder`);
  }
  if (!files.has('/index.html')) throw new Error(`${root} has no index.html: not the in-browser build (npm run build writes dist/static)`);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const f = files.get(path === '/' ? '/index.html' : path);
    if (opts.log) process.stderr.write(`${req.method} ${path} ${f ? 200 : 404}\n`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...STATIC_HEADERS, allow: 'GET, HEAD' }).end();
      return;
    }
    if (!f) {
      res.writeHead(404, { ...STATIC_HEADERS, 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, { ...STATIC_HEADERS, 'content-type': TYPES[extname(f.path)] ?? 'application/octet-stream', 'content-length': String(f.size), 'cache-control': 'no-cache' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(f.path).pipe(res);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 8080, host, () => ok());
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`, port, server,
    close: () => new Promise((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
