// The in-context tasks in the browser, from the portable core: one seeded N-way K-shot episode
// (../tasks/fewshot: sampleEpisodes, buildFewshotPrompt, encodePrompt, answerQuery with trie decoding, as
// `v2l fewshot` and the server's Few-shot tab run it) over labelled images the user chose (a folder of
// class folders), and restoration (./restore.ts). The LLM is the in-browser one (./wllama-llm.ts).
import type { FewshotResult } from '../../web/api.js';
import { sampleEpisodes } from '../tasks/fewshot/episodes.js';
import { buildFewshotPrompt, encodePrompt, uniqueSorted, type FewshotProtocol, type FewshotTokenizer } from '../tasks/fewshot/prompt.js';
import { answerQuery } from '../tasks/fewshot/answer.js';
import { decodeImageBytes, pngDataUrl, InputError } from './image.js';
import type { BrowserTokenizer } from './tokenizer.js';
import type { WllamaLLM } from './wllama-llm.js';
import type { LocalApiOptions } from './local-api.js';
import type { RawImage } from '../image/types.js';
import { restoreRunner } from './restore.js';
import type { JobQueue } from './queue.js';

/** A labelled image set: class -> `class/file` fields (sorted, as ../tasks/fewshot/dataset.ts lists folders), and the files. */
export interface BrowserDataset {
  classes: Map<string, string[]>;
  files: Map<string, Blob>;
}

const IMAGE_EXT = /\.(jpe?g|png|bmp|webp|gif|tiff?)$/i;

/** The dataset of chosen files by their paths under the chosen folder (`class/file`; deeper paths ignored). */
export function datasetOf(files: readonly { path: string; file: Blob }[]): BrowserDataset | null {
  const classes = new Map<string, string[]>();
  const byField = new Map<string, Blob>();
  for (const { path, file } of files) {
    const parts = path.split('/');
    if (parts.length !== 2 || !IMAGE_EXT.test(parts[1]) || parts[0].startsWith('.')) continue;
    byField.set(path, file);
    let list = classes.get(parts[0]);
    if (!list) classes.set(parts[0], (list = []));
    list.push(path);
  }
  if (!classes.size) return null;
  const sorted = new Map([...classes.keys()].sort().map((c) => [c, classes.get(c)!.sort()]));
  return { classes: sorted, files: byField };
}

/** A 96 px square thumbnail (cover) as a data URL. */
async function thumb(img: RawImage): Promise<string> {
  const side = Math.min(img.width, img.height);
  const x0 = Math.floor((img.width - side) / 2);
  const y0 = Math.floor((img.height - side) / 2);
  const n = 96;
  const data = new Uint8Array(n * n * 3);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      const sx = x0 + Math.floor(((x + 0.5) * side) / n);
      const sy = y0 + Math.floor(((y + 0.5) * side) / n);
      for (let c = 0; c < 3; c++) data[(y * n + x) * 3 + c] = img.data[(sy * img.width + sx) * img.channels + (img.channels >= 3 ? c : 0)];
    }
  }
  return pngDataUrl({ data, width: n, height: n, channels: 3 });
}

export function browserTasks(o: { tokenizer: BrowserTokenizer; llm: WllamaLLM; dataset?: BrowserDataset | null; maxPixels?: number; queue: JobQueue; text: (id: number) => string }):
  { fewshot: LocalApiOptions['fewshot']; fewshotInfo: LocalApiOptions['fewshotInfo']; restore: LocalApiOptions['restore'] } {
  const tok = o.tokenizer;
  const maxPixels = o.maxPixels ?? 40_000_000;
  const globalTokens = async (field: string, k: number) => {
    const blob = o.dataset!.files.get(field)!;
    const { image } = await decodeImageBytes(new Uint8Array(await blob.arrayBuffer()), field, maxPixels);
    const emb = await tok.clip.embedImages([image]);
    const ids = Array.from(await tok.engine.globalTokens(emb, 1, k));
    const texts = ids.map((id, i) => {
      const t = tok.codebook.globalEntries[id]?.text;
      if (t == null) throw new Error(`global token ${i} has no text in the codebook`);
      return t;
    });
    return { ids, texts, thumb: await thumb(image) };
  };

  const fewshot = o.dataset ? async (req: { ways: number; shots: number; seed: number; protocol: string; induction: boolean }): Promise<FewshotResult> => {
    const ds = o.dataset!;
    const int = (k: 'ways' | 'shots' | 'seed', min: number, max: number) => {
      const v = req[k];
      if (!Number.isInteger(v) || v < min || v > max) throw new InputError(`"${k}" must be an integer in [${min}, ${max}] (got ${JSON.stringify(v)})`);
      return v;
    };
    const ways = int('ways', 2, Math.min(20, ds.classes.size));
    const shots = int('shots', 1, 10);
    const seed = int('seed', 0, 2 ** 31 - 1);
    const protocol = req.protocol as FewshotProtocol;
    if (protocol !== 'paper' && protocol !== 'reference') throw new InputError(`"protocol" must be paper or reference (got ${JSON.stringify(req.protocol)})`);
    const [ep] = sampleEpisodes(ds.classes, { ways, shots, episodes: 1, seed });
    const q = ep.queries[0];
    const k = tok.globalTokens;
    const support = [];
    for (const s of ep.support) support.push({ label: s.wnid, ...(await globalTokens(s.field, k)) });
    const query = await globalTokens(q.field, k);
    const llm = o.llm;
    const vocab = await llm.vocabulary();
    const ptok: FewshotTokenizer = { tokenize: (t) => llm.tokenize(t), bos: vocab.bos };
    const names = uniqueSorted(support.map((s) => s.label));
    const segments = buildFewshotPrompt({
      protocol, induction: req.induction, repeats: 0,
      support: support.map((s) => ({ globalTexts: s.texts, label: s.label })), query: { globalTexts: query.texts }, classNames: names,
    });
    const { ids } = await encodePrompt(segments, protocol, ptok);
    if (ids.length + 8 > llm.contextSize) throw new InputError(`the prompt has ${ids.length} tokens, more than the ${llm.contextSize}-token context of ${llm.id} allows; use fewer ways or shots`);
    const before = llm.stats();
    const ans = await answerQuery({ llm, protocol, decoding: 'trie', induction: req.induction }, vocab, ptok, ids, names, vocab.eos ?? 2);
    const after = llm.stats();
    return {
      ways, shots, seed, protocol, induction: req.induction,
      support: support.map((s) => ({ label: s.label, globalTexts: s.texts, thumb: s.thumb })),
      query: { truth: q.wnid, globalTexts: query.texts, thumb: query.thumb },
      segments, promptTokens: ids.length, promptIds: ids,
      answer: ans.text, prediction: ans.prediction, truth: q.wnid, correct: ans.prediction === q.wnid,
      llm: { id: llm.id, calls: ans.calls, evaluatedTokens: after.evaluatedTokens - before.evaluatedTokens, reusedTokens: after.reusedTokens - before.reusedTokens },
      notes: tok.clip.isStandIn ? ['The CLIP is a random-weight stand-in: the global tokens, and so the answer, carry no meaning.'] : [],
    };
  } : null;

  return {
    fewshot,
    fewshotInfo: o.dataset ? { classes: o.dataset.classes.size, layout: 'folders' } : null,
    restore: restoreRunner({ tokenizer: tok, llm: o.llm, queue: o.queue, text: o.text }),
  };
}
