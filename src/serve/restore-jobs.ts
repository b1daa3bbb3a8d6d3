// Restoration in the viewer (the library's restoreImages, src/tasks/restore): a job per request, run in
// the server's job queue, whose progress is kept as a list of events and streamed to the page (Server-Sent
// Events): the original and corrupted crops first, then every write-back of the LLM's predicted tokens
// with the running count of LLM calls and tokens, then the restored image.
import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { LLM } from '../models/llm/types.js';
import type { RawImage } from '../models/clip/types.js';
import type { V2LTokenizer } from '../tokenizer/tokenizer.js';
import { loadImage } from '../image/load.js';
import { resizeAndCrop } from '../image/preprocess.js';
import { encodePng } from '../image/save.js';
import { Rng } from '../network/rng.js';
import { checkRestoreOptions, restoreImages, imageSeed, blankHidden, type RestoreOptions } from '../tasks/restore/run.js';
import { RESTORE_TASKS, isMaskTask, predictionMask, type RestoreTask } from '../tasks/restore/masks.js';
import { corrupt, type PixelCorruption } from '../tasks/restore/corruptions.js';
import type { JobQueue } from './queue.js';
import { BusyError } from './queue.js';
import { HttpError } from './http.js';

export interface RestoreRequest {
  /** The query: an image of the folder listing (index) or a tokenized upload (its id). */
  folder: number | null;
  image: string | null;
  task: RestoreTask;
  protocol: 'clean' | 'reference';
  m: number;
  n: number;
  copies: number;
}

type Event = { event: string; data: unknown };

interface Job {
  id: string;
  events: Event[];
  listeners: Set<(e: Event) => void>;
  finished: boolean;
}

const dataUrl = async (img: RawImage) => `data:image/png;base64,${(await encodePng(img)).toString('base64')}`;
const MAX_JOBS = 16;
const CONTEXT_IMAGES = 4;

export class RestoreJobs {
  private readonly jobs = new Map<string, Job>();

  constructor(private readonly o: {
    tok: V2LTokenizer; llm: LLM; queue: JobQueue; files: () => string[]; name: (path: string) => string; text: (id: number) => string;
    /** A tokenized upload kept on disk for restoration: its file and name, or null once evicted. */
    uploaded: (id: string) => { path: string; name: string } | null;
  }) {}

  /** Checks the request (400 with the library's reason), queues the job (503 when full), returns its id. */
  async start(body: Record<string, unknown>): Promise<{ job: string; steps: number; hidden: number; grid: number }> {
    const files = this.o.files();
    const req = parseRequest(body, files.length);
    let source: string;
    let name: string;
    if (req.image !== null) {
      const up = this.o.uploaded(req.image);
      if (!up) throw new HttpError(404, `image ${req.image} is not held any more; tokenize it again`);
      ({ path: source, name } = up);
    } else {
      source = files[req.folder!];
      name = this.o.name(source);
    }
    // Clean protocol, pixel tasks: the corruption is learnt from (corrupted, clean) pairs of other images.
    const contextImages = req.protocol === 'clean' && !isMaskTask(req.task) ? files.filter((f) => f !== source).slice(0, CONTEXT_IMAGES) : [];
    const opts: RestoreOptions = {
      task: req.task, protocol: req.protocol, tokenizer: this.o.tok, llm: this.o.llm, images: [source], contextImages,
      m: req.m, n: req.n, copies: req.copies, globalTokens: Math.min(21, this.o.tok.config.nGlobal),
    };
    try {
      await checkRestoreOptions(opts);
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
    const g = this.o.tok.gridSize;
    const hidden = predictionMask(req.task, g);
    const job: Job = { id: randomBytes(8).toString('hex'), events: [], listeners: new Set(), finished: false };
    const emit = (event: string, data: unknown) => {
      const e = { event, data };
      job.events.push(e);
      for (const l of job.listeners) l(e);
    };
    try {
      void this.o.queue.run(() => this.run(job, opts, source, hidden, emit)).catch((e) => {
        emit('error', { message: (e as Error).message });
      }).finally(() => {
        job.finished = true;
        emit('end', {});
      });
    } catch (e) {
      if (e instanceof BusyError) throw new HttpError(503, e.message, { 'retry-after': String(e.retryAfterS) });
      throw e;
    }
    this.jobs.set(job.id, job);
    while (this.jobs.size > MAX_JOBS) {
      const oldest = [...this.jobs.values()].find((j) => j.finished);
      if (!oldest) break;
      this.jobs.delete(oldest.id);
    }
    emit('queued', { name, task: req.task, protocol: req.protocol, grid: g, hidden: hidden.map((h) => (h ? 1 : 0)), contextImages: contextImages.map((c) => this.o.name(c)) });
    return { job: job.id, steps: 0, hidden: hidden.filter(Boolean).length, grid: g };
  }

  private async run(job: Job, opts: RestoreOptions, source: string, hidden: boolean[], emit: (event: string, data: unknown) => void): Promise<void> {
    const tok = this.o.tok;
    const g = tok.gridSize;
    // A preview of what the library is about to do (its own crop and corruption, same seed), so the page
    // shows original | corrupted before the first LLM call; the final images come from the library.
    const full = await loadImage(source, { shrinkTo: tok.imageSize });
    const clean = resizeAndCrop(full, tok.imageSize);
    const corrupted = isMaskTask(opts.task) ? blankHidden(clean, hidden, g) : corrupt(opts.task as PixelCorruption, clean, full, new Rng(imageSeed(opts.seed ?? 0, source)).uniform()).image;
    emit('start', { original: await dataUrl(clean), corrupted: await dataUrl(corrupted) });
    const before = this.o.llm.stats();
    let calls = 0;
    for await (const r of restoreImages({
      ...opts,
      onStep: (e) => {
        const s = this.o.llm.stats();
        calls++;
        emit('step', {
          step: e.step, steps: e.steps, positions: e.positions, ids: e.ids, texts: e.ids.map((id) => this.o.text(id)),
          evaluatedTokens: s.evaluatedTokens - before.evaluatedTokens, reusedTokens: s.reusedTokens - before.reusedTokens, writeBacks: calls,
        });
      },
    })) {
      if (r.record.status !== 'ok') throw new Error(r.record.error ?? 'restoration failed');
      emit('done', {
        original: await dataUrl(r.original!), corrupted: await dataUrl(r.corrupted!), restored: await dataUrl(r.restored!),
        reconstructionOfCorrupted: await dataUrl(r.reconstructionOfCorrupted!),
        accuracy: r.record.accuracy, corruption: r.record.corruption ?? {}, steps: r.record.steps,
        calls: r.cost.calls, evaluatedTokens: r.cost.evaluatedTokens, reusedTokens: r.cost.reusedTokens, seconds: Number(r.cost.seconds.toFixed(2)),
        restoredTexts: r.record.tokens!.restored.map((row) => row.map((id) => this.o.text(id))),
      });
    }
  }

  /** Streams a job's events (all so far, then the new ones) as Server-Sent Events until it ends. */
  stream(id: string, res: ServerResponse): void {
    const job = this.jobs.get(id);
    if (!job) throw new HttpError(404, `no restoration job ${id} (the server keeps the last ${MAX_JOBS})`);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (e: Event) => res.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
    for (const e of job.events) send(e);
    if (job.finished) {
      res.end();
      return;
    }
    const listener = (e: Event) => {
      send(e);
      if (e.event === 'end') {
        job.listeners.delete(listener);
        res.end();
      }
    };
    job.listeners.add(listener);
    res.on('close', () => job.listeners.delete(listener));
  }
}

function parseRequest(b: Record<string, unknown>, nFiles: number): RestoreRequest {
  const int = (k: string, dflt: number, min: number, max: number) => {
    const v = b[k] ?? dflt;
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw new HttpError(400, `"${k}" must be an integer in [${min}, ${max}] (got ${JSON.stringify(b[k])})`);
    return v as number;
  };
  const image = b.image ?? null;
  if (image !== null && (typeof image !== 'string' || !/^[0-9a-f]{16}$/.test(image))) throw new HttpError(400, '"image" must be the id a tokenize call returned');
  if (image === null && b.folder === undefined) throw new HttpError(400, 'give "image" (a tokenized image\'s id) or "folder" (an index into the --images listing)');
  if (image === null && !nFiles) throw new HttpError(404, 'no image folder: start the server with --images <dir> to restore its images');
  const task = b.task as RestoreTask;
  if (!RESTORE_TASKS.includes(task)) throw new HttpError(400, `"task" must be one of ${RESTORE_TASKS.join(', ')} (got ${JSON.stringify(b.task)})`);
  const protocol = b.protocol ?? 'clean';
  if (protocol !== 'clean' && protocol !== 'reference') throw new HttpError(400, `"protocol" must be clean or reference (got ${JSON.stringify(b.protocol)})`);
  return { folder: image === null ? int('folder', -1, 0, nFiles - 1) : null, image, task, protocol, m: int('m', 2, 1, 8), n: int('n', 16, 1, 64), copies: int('copies', 10, 1, 10) };
}
