// The page's back end: the JSON API of `v2l serve` over HTTP (httpApi, the default), or the same operations
// run in the browser itself (src/browser/local-api.ts, set with useApi by the static build). Errors carry
// the back end's message so the page can show it as is.
export interface TokenView { id: number; text: string; distance: number }
export interface Cell extends TokenView { alternatives: TokenView[] }

export interface Info {
  imageSize: number; demo: boolean; grid: number; globalTokens: number; localVocabulary: number; globalVocabulary: number;
  localText: 'llm-pieces' | 'codebook-texts' | 'ids'; llm: string | null;
  clip: { id: string | null; standIn: boolean };
  codebook: { dir: string; standInClip: boolean; source: string } | null;
  folder: { images: number; truncated: boolean } | null;
  limits: { maxUploadBytes: number; maxPixels: number };
  tabs: { restoration: boolean; fewshot: boolean };
  fewshot: { classes: number; layout: string } | null;
}

export interface Tokenized {
  image: string; name: string; source: { format: string; width: number; height: number };
  size: number; grid: number; original: string; reconstruction: string; psnr: number;
  global: TokenView[]; globalAlternatives: TokenView[]; local: Cell[][];
}

export interface Decoded { image: string; reconstruction: string; difference: string; maxChange: number; psnr: number; changed: { local: number; global: number } }
export interface Lookup { kind: string; q: string; matches: { id: number; text: string }[] }
export interface CodebookPage { q: string; offset: number; total: number; entries: { id: number; text: string; count: number | null }[] }
export interface EntryImages {
  entry: { id: number; text: string }; status: 'idle' | 'indexing' | 'ready'; done: number; total: number; failed: number;
  images: { index: number; name: string; rank: number; distance: number }[];
}
export interface FewshotResult {
  ways: number; shots: number; seed: number; protocol: string; induction: boolean;
  support: { label: string; globalTexts: string[]; thumb: string }[];
  query: { truth: string; globalTexts: string[]; thumb: string };
  segments: { kind: 'bos' | 'instruction' | 'text' | 'image' | 'label'; text: string; ref?: number }[];
  promptTokens: number; promptIds?: number[]; answer: string; prediction: string | null; truth: string; correct: boolean;
  llm: { id: string; calls: number; evaluatedTokens: number; reusedTokens: number } | null; notes: string[];
}
export interface FolderList { images: { index: number; name: string }[]; truncated: boolean }

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${(e as Error).message}); is \`v2l serve\` still running?`);
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: reported below
  }
  if (!res.ok) {
    const msg = (body as { error?: string } | null)?.error ?? `${res.status} ${res.statusText}`;
    const retry = res.headers.get('retry-after');
    throw new ApiError(res.status, retry ? `${msg}` : msg);
  }
  if (body === null) throw new ApiError(res.status, `the server's answer to ${path} is not JSON`);
  return body as T;
}

const post = (body: BodyInit, type: string): RequestInit => ({ method: 'POST', body, headers: { 'content-type': type, 'x-v2l': '1' } });

const httpApi = {
  info: () => call<Info>('/api/info'),
  tokenizeFile: (file: Blob, name: string) => call<Tokenized>(`/api/tokenize?name=${encodeURIComponent(name)}`, post(file, 'application/octet-stream')),
  tokenizeFolder: (index: number) => call<Tokenized>(`/api/tokenize?folder=${index}`, post('', 'application/octet-stream')),
  decode: (image: string, local: number[][], global: number[]) => call<Decoded>('/api/decode', post(JSON.stringify({ image, local, global }), 'application/json')),
  lookup: (kind: 'local' | 'global', q: string) => call<Lookup>(`/api/lookup?kind=${kind}&q=${encodeURIComponent(q)}&limit=12`),
  codebook: (q: string, offset: number) => call<CodebookPage>(`/api/codebook?q=${encodeURIComponent(q)}&offset=${offset}&limit=60`),
  entryImages: (id: number) => call<EntryImages>(`/api/codebook/${id}/images`),
  folder: () => call<FolderList>('/api/folder'),
  thumb: (index: number) => `/api/folder/${index}/thumb`,
  fewshot: (req: { ways: number; shots: number; seed: number; protocol: string; induction: boolean }) =>
    call<FewshotResult>('/api/fewshot', post(JSON.stringify(req), 'application/json')),
  restore: (req: ({ folder: number } | { image: string }) & { task: string; protocol: string; copies: number; m: number; n: number }) =>
    call<{ job: string; hidden: number; grid: number }>('/api/restore', post(JSON.stringify(req), 'application/json')),
  /** A restoration's events (queued, start, step, done, error, end) as Server-Sent Events. */
  restoreEvents: (job: string): EventStream => new EventSource(`/api/restore/${job}/events`),
};

/** What the restoration view reads events from: an EventSource, or the in-browser back end's equivalent. */
export interface EventStream {
  addEventListener(type: string, listener: (ev: Event) => void): void;
  close(): void;
  /** EventSource's: 0 connecting, 1 open, 2 closed. */
  readonly readyState: number;
  onerror: ((ev: Event) => void) | null;
}

/** What a back end offers the page: the operations of `v2l serve`'s API. */
export type Api = typeof httpApi;

/** The back end in use (the views call it at the time of each operation). */
export let api: Api = httpApi;

/** Makes the page use another back end (before boot). */
export function useApi(a: Api): void {
  api = a;
}
