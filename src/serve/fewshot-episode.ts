// Few-shot classification in the viewer (the library's runFewshot, src/tasks/fewshot): one seeded N-way
// K-shot episode of a labelled dataset, run as one queued job; the page gets the support and query images,
// the prompt as segments (so image tokens and labels can be highlighted), and the model's answer.
import { basename } from 'node:path';
import { sharp as loadSharp } from '../image/sharp.js';
import type { LLM } from '../models/llm/types.js';
import type { V2LTokenizer } from '../tokenizer/tokenizer.js';
import { loadImage } from '../image/load.js';
import { openDataset, loadClassNames, type FewshotDataset } from '../tasks/fewshot/dataset.js';
import { sampleEpisodes } from '../tasks/fewshot/episodes.js';
import { buildFewshotPrompt, uniqueSorted, type FewshotProtocol } from '../tasks/fewshot/prompt.js';
import { runFewshot } from '../tasks/fewshot/run.js';
import { tokenizerTokens, type ImageTokenProvider } from '../tasks/image-tokens.js';
import type { JobQueue } from './queue.js';
import { BusyError } from './queue.js';
import { HttpError } from './http.js';

async function thumb(path: string): Promise<string> {
  const img = await loadImage(path, { shrinkTo: 96 });
  const sharp = await loadSharp();
  const png = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(96, 96, { fit: 'cover' }).png().toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

export class FewshotEpisodes {
  readonly dataset: FewshotDataset;
  private readonly names: Map<string, string>;
  private readonly tokens: ImageTokenProvider;

  constructor(private readonly o: { tok: V2LTokenizer; llm: LLM; queue: JobQueue; root: string }) {
    this.dataset = openDataset(o.root);
    this.names = loadClassNames(undefined, o.root).names;
    // In memory only: the viewer writes nothing to the user's cache.
    this.tokens = tokenizerTokens(o.tok, { cache: false });
  }

  info() {
    return { classes: this.dataset.classes.size, layout: this.dataset.layout };
  }

  async run(b: Record<string, unknown>) {
    const int = (k: string, dflt: number, min: number, max: number) => {
      const v = b[k] ?? dflt;
      if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) throw new HttpError(400, `"${k}" must be an integer in [${min}, ${max}] (got ${JSON.stringify(b[k])})`);
      return v as number;
    };
    const ways = int('ways', 2, 2, Math.min(20, this.dataset.classes.size));
    const shots = int('shots', 1, 1, 10);
    const seed = int('seed', 0, 0, 2 ** 31 - 1);
    const protocol = (b.protocol ?? 'paper') as FewshotProtocol;
    if (protocol !== 'paper' && protocol !== 'reference') throw new HttpError(400, `"protocol" must be paper or reference (got ${JSON.stringify(b.protocol)})`);
    const induction = b.induction ?? true;
    if (typeof induction !== 'boolean') throw new HttpError(400, '"induction" must be true or false');
    let episodes;
    try {
      episodes = sampleEpisodes(this.dataset.classes, { ways, shots, episodes: 1, seed });
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
    const className = (wnid: string) => this.names.get(wnid) ?? wnid;
    const k = this.o.tok.globalTokens;
    const job = async () => {
      const r = await runFewshot({
        episodes, resolve: this.dataset.resolve, className, tokens: this.tokens, llm: this.o.llm, globalTokens: k,
        induction, repeats: 0, protocol, decoding: 'trie',
      });
      return r;
    };
    let r;
    try {
      r = await this.o.queue.run(job);
    } catch (e) {
      if (e instanceof BusyError) throw new HttpError(503, e.message, { 'retry-after': String(e.retryAfterS) });
      // The library's refusals (a prompt longer than the model's context, ...) are about the request.
      throw new HttpError(422, (e as Error).message);
    }
    const rec = r.records[0];
    if (rec.error) throw new HttpError(422, rec.error);
    const ep = episodes[0];
    const segments = buildFewshotPrompt({
      protocol, induction, repeats: 0,
      support: rec.support.map((s) => ({ globalTexts: s.global_texts, label: s.label })),
      query: { globalTexts: rec.query.global_texts }, classNames: uniqueSorted(rec.support.map((s) => s.label)),
    });
    return {
      ways, shots, seed, protocol, induction,
      support: await Promise.all(rec.support.map(async (s, i) => ({ label: s.label, globalTexts: s.global_texts, thumb: await thumb(this.dataset.resolve(ep.support[i].field)) }))),
      query: { truth: rec.truth, globalTexts: rec.query.global_texts, thumb: await thumb(this.dataset.resolve(ep.queries[0].field)) },
      segments, promptTokens: rec.prompt_ids.length, promptIds: rec.prompt_ids,
      answer: rec.generated_text, prediction: rec.prediction, truth: rec.truth, correct: rec.correct,
      // File names only: the page (perhaps on another machine with --host) needs no server paths.
      llm: r.summary.llm ? { ...r.summary.llm, id: basename(r.summary.llm.id) } : null, notes: r.summary.notes.map((n) => n.replaceAll(this.o.llm.id, basename(this.o.llm.id))),
    };
  }
}
