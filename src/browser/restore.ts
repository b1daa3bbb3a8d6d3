// Restoration in the browser, as `v2l restore` / the server's Restoration tab run one image
// (../tasks/restore/run.ts's restoreImages): the tokenizer's own crop of the decoded image, the corruption
// (blanked cells for in/outpainting, ../tasks/restore/corruptions.ts otherwise, same per-image seed), the
// corrupted image's tokens, then the portable token loop (restoreTokens) on the in-browser LLM, and the
// restored tokens decoded. Progress goes to the page as the server's Server-Sent Events do (same event
// names and fields), through an EventStream of its own.
import type { EventStream } from '../../web/api.js';
import type { RawImage } from '../image/types.js';
import { resizeAndCrop } from '../image/preprocess.js';
import { Rng } from '../network/rng.js';
import { corrupt, type PixelCorruption } from '../tasks/restore/corruptions.js';
import { isMaskTask, predictionMask, RESTORE_TASKS, type RestoreTask } from '../tasks/restore/masks.js';
import { promptLength, promptPieces } from '../tasks/restore/prompt.js';
import { restoreTokens, type RestoreProtocol } from '../tasks/restore/restore-tokens.js';
import { imageSeed, blankHidden } from '../tasks/restore/query-image.js';
import { InputError, pngDataUrl } from './image.js';
import type { BrowserTokenizer } from './tokenizer.js';
import type { WllamaLLM } from './wllama-llm.js';
import type { LocalRestore } from './local-api.js';
import type { JobQueue } from './queue.js';

interface JobEvent { event: string; data: unknown }

/** A job's events for one listener: the ones so far, then the new ones, until 'end' (as EventSource). */
class JobStream extends EventTarget implements EventStream {
  readyState = 0;
  onerror: ((ev: Event) => void) | null = null;
  private seen = 0;

  constructor(private readonly job: { events: JobEvent[]; listeners: Set<() => void> }) {
    super();
    const pump = () => {
      if (this.readyState === 2) return;
      this.readyState = 1;
      while (this.seen < job.events.length) {
        const e = job.events[this.seen++];
        this.dispatchEvent(new MessageEvent(e.event, { data: JSON.stringify(e.data) }));
        if (e.event === 'end') this.close();
      }
    };
    job.listeners.add(pump);
    setTimeout(pump, 0); // listeners are attached right after creation, as with an EventSource
  }

  override addEventListener(type: string, listener: (ev: Event) => void): void {
    super.addEventListener(type, listener);
  }

  close(): void {
    this.readyState = 2;
  }
}

const grid = (flat: readonly number[], g: number) => Array.from({ length: g }, (_, r) => flat.slice(r * g, (r + 1) * g));

export function restoreRunner(o: { tokenizer: BrowserTokenizer; llm: WllamaLLM; queue: JobQueue; text: (id: number) => string }): LocalRestore {
  const tok = o.tokenizer;
  const llm = o.llm;
  const jobs = new Map<string, { events: JobEvent[]; listeners: Set<() => void> }>();
  let next = 0;
  const g = tok.gridSize;
  const k = Math.min(21, tok.config.nGlobal);

  const globalIds = async (img: RawImage) => Array.from(await tok.engine.globalTokens(await tok.clip.embedImages([img]), 1, k));
  const localIds = async (img: RawImage) => (await tok.encode(img)).localIds.flat();

  return {
    start(req) {
      const task = req.task as RestoreTask;
      if (!RESTORE_TASKS.includes(task)) throw new InputError(`"task" must be one of ${RESTORE_TASKS.join(', ')} (got ${JSON.stringify(req.task)})`);
      const protocol = req.protocol as RestoreProtocol;
      if (protocol !== 'clean' && protocol !== 'reference') throw new InputError(`"protocol" must be clean or reference (got ${JSON.stringify(req.protocol)})`);
      for (const [name, v, max] of [['m', req.m, 8], ['n', req.n, 64], ['copies', req.copies, 10]] as const) {
        if (!Number.isInteger(v) || v < 1 || v > max) throw new InputError(`${name} must be an integer in [1, ${max}] (got ${v})`);
      }
      if (protocol === 'clean' && !isMaskTask(task)) {
        throw new InputError(`${task} with the clean protocol learns the corruption from other images' token pairs; in the browser, choose the reference protocol, or inpainting/outpainting`);
      }
      const hidden = predictionMask(task, g);
      const id = String(++next);
      const job = { events: [] as JobEvent[], listeners: new Set<() => void>() };
      const emit = (event: string, data: unknown) => {
        job.events.push({ event, data });
        for (const l of job.listeners) l();
      };
      jobs.set(id, job);
      emit('queued', { name: req.name, task, protocol, grid: g, hidden: hidden.map((x) => (x ? 1 : 0)), contextImages: [] });
      const run = async () => {
        const t0 = performance.now();
        const vocab = await llm.vocabulary();
        const pieces = await promptPieces((t) => llm.tokenize(t), vocab.bos, req.m);
        const inLen = isMaskTask(task) ? req.n : req.m;
        const need = promptLength(pieces, req.copies, inLen, inLen, req.m) + req.m - 1;
        if (need > llm.contextSize) {
          throw new InputError(`a ${task} step needs ${need} tokens (${req.copies} examples of ${inLen} -> ${req.m} ids, a query of ${inLen}, ${req.m} generated), the context window of ${llm.id} is ${llm.contextSize}: use fewer examples${isMaskTask(task) ? ' or a smaller window' : ''}`);
        }
        const seed = imageSeed(0, req.name);
        const clean = resizeAndCrop(req.original, tok.imageSize);
        const c = isMaskTask(task) ? { image: blankHidden(clean, hidden, g), params: {} } : corrupt(task as PixelCorruption, clean, req.original, new Rng(seed).uniform());
        emit('start', { original: await pngDataUrl(clean), corrupted: await pngDataUrl(c.image) });
        const cleanLocal = await localIds(clean);
        const corruptedLocal = await localIds(c.image);
        // Clean protocol: CLIP sees the corrupted crop; reference: the original (its leak, as the reference).
        const queryGlobal = await globalIds(protocol === 'reference' ? req.original : c.image);
        const before = llm.stats();
        let calls = 0;
        const out = await restoreTokens(llm, {
          task, protocol, g, m: req.m, n: req.n, copies: req.copies, seed, vocabSize: vocab.size, pieces,
          query: { global: queryGlobal, local: corruptedLocal },
          ...(protocol === 'reference' ? { clean: { global: queryGlobal, local: cleanLocal } } : {}),
          others: [],
          onStep: (e) => {
            const s = llm.stats();
            calls++;
            emit('step', {
              step: e.step, steps: e.steps, positions: e.positions, ids: e.ids, texts: e.ids.map(o.text),
              evaluatedTokens: s.evaluatedTokens - before.evaluatedTokens, reusedTokens: s.reusedTokens - before.reusedTokens, writeBacks: calls,
            });
          },
        });
        const restored = await tok.decode(grid(out.local, g), out.global);
        const recCorrupted = await tok.decode(grid(corruptedLocal, g), out.global);
        let same = 0;
        let sameCorrupted = 0;
        let positions = 0;
        hidden.forEach((x, i) => {
          if (!x) return;
          positions++;
          if (out.local[i] === cleanLocal[i]) same++;
          if (corruptedLocal[i] === cleanLocal[i]) sameCorrupted++;
        });
        const after = llm.stats();
        emit('done', {
          original: await pngDataUrl(clean), corrupted: await pngDataUrl(c.image), restored: await pngDataUrl(restored),
          reconstructionOfCorrupted: await pngDataUrl(recCorrupted),
          accuracy: { restored: same / positions, corrupted: sameCorrupted / positions, positions }, corruption: c.params, steps: out.steps,
          calls: out.calls, evaluatedTokens: after.evaluatedTokens - before.evaluatedTokens, reusedTokens: after.reusedTokens - before.reusedTokens,
          seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
          restoredIds: grid(out.local, g),
          restoredTexts: grid(out.local, g).map((row) => row.map(o.text)),
        });
      };
      void o.queue.run(run).catch((e) => emit('error', { message: (e as Error).message })).finally(() => emit('end', {}));
      return { job: id, hidden: hidden.filter(Boolean).length, grid: g };
    },
    events(job) {
      const j = jobs.get(job);
      if (!j) throw new InputError(`no restoration job ${job}`);
      return new JobStream(j);
    },
  };
}
