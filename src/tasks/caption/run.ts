// Node edge: `v2l caption` as a library call. The paper's captioning prompt (./prompt.ts), greedy
// generation up to "." (and a line break, default protocol) or `maxTokens`; BLEU-4 and CIDEr-D
// (src/eval/caption-metrics.ts) when the queries have reference captions.
import { readFileSync } from 'node:fs';
import { runInContext, taskRunBase, imageFolder, resolveImage, type BaseRecord, type InContextItem, type TaskRunOptions } from '../in-context-run.js';
import { parseCaptionExamples } from './examples.js';
import { captionPrompt, captionStops, captionFromGenerated } from './prompt.js';
import { pick } from '../shots.js';
import type { RunSummary } from '../summary.js';
import { captionScores } from '../../eval/caption-metrics.js';

export interface CaptionItem extends InContextItem {
  captions: string[];
}

export interface CaptionRecord extends BaseRecord {
  caption?: string;
  /** The generated text as produced (the stop included). */
  generated?: string;
  stopReason?: string;
  generatedTokens?: number;
  references?: string[];
}

/** Reads a captions file (any form of ./examples.ts) with image paths resolved. */
export function readCaptionItems(file: string, imageDir?: string): CaptionItem[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read captions file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const folder = imageFolder(file, imageDir);
  return parseCaptionExamples(text, file).map((e) => ({ image: resolveImage(folder, e.image), captions: e.captions, where: e.where }));
}

export type CaptionRunOptions = TaskRunOptions<CaptionItem>;

export function runCaption(o: CaptionRunOptions): Promise<RunSummary> {
  const tokenize = (t: string) => o.llm.tokenize(t);
  return runInContext<CaptionItem, CaptionItem, CaptionRecord>({
    ...taskRunBase('caption', o, 'global tokens come from the random-weight STAND-IN CLIP: the captions and scores are meaningless'),
    prompt: (shots, q) => captionPrompt(
      shots.map((s) => ({ globalTexts: s.texts, caption: s.item.captions[pick(s.item.captions.length, s.seed)]! })),
      q.texts, o.protocol, tokenize,
    ),
    async answer(p, q) {
      const r = await o.llm.generate(p.prompt, { prefix: p.prefix, stop: captionStops(o.protocol), maxTokens: o.maxTokens });
      return {
        fields: {
          caption: captionFromGenerated(r.text), generated: r.text, stopReason: r.stopReason, generatedTokens: r.ids.length,
          ...(q.captions.length ? { references: q.captions } : {}),
        },
        calls: 1,
      };
    },
    figures(records) {
      const scored = records.filter((r) => r.references?.length);
      const f: RunSummary['figures'] = { captions: records.length };
      if (scored.length) {
        const s = captionScores(scored.map((r) => ({ candidate: r.caption ?? '', references: r.references! })));
        f.bleu4 = s.bleu4;
        f.ciderD = s.cider;
        f.scoredCaptions = scored.length;
      }
      return f;
    },
  });
}
