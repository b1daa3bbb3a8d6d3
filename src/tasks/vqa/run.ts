// Node edge: `v2l vqa` as a library call. The paper's VQA prompt (./prompt.ts), greedy decoding up to the
// end of the first word (./first-word.ts); VQA accuracy (src/eval/vqa-accuracy.ts: normalised exact match
// for single-answer sets, the official leave-one-out rule for ten answers) when answers are known.
import { readFileSync } from 'node:fs';
import { runInContext, taskRunBase, imageFolder, resolveImage, type BaseRecord, type InContextItem, type TaskRunOptions } from '../in-context-run.js';
import { parseVqaExamples, type VqaFormat } from './examples.js';
import { vqaPrompt } from './prompt.js';
import { generateFirstWord } from './first-word.js';
import { pick } from '../shots.js';
import type { RunSummary } from '../summary.js';
import { vqaAccuracy } from '../../eval/vqa-accuracy.js';

export interface VqaItem extends InContextItem {
  question: string;
  answers: string[];
}

export interface VqaRecord extends BaseRecord {
  question?: string;
  prediction?: string;
  generated?: string;
  stopReason?: string;
  answers?: string[];
  accuracy?: number;
}

export function readVqaItems(file: string, imageDir?: string): { format: VqaFormat; items: VqaItem[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read questions file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const folder = imageFolder(file, imageDir);
  const { format, examples } = parseVqaExamples(text, file);
  return { format, items: examples.map((e) => ({ image: resolveImage(folder, e.image), question: e.question, answers: e.answers, where: e.where })) };
}

/** The pool holds the in-context questions (each needs an answer). */
export type VqaRunOptions = TaskRunOptions<VqaItem>;

export async function runVqa(o: VqaRunOptions): Promise<RunSummary> {
  const bad = o.pool.find((p) => !p.answers.length);
  if (bad) throw new Error(`${bad.where}: an in-context question needs an answer`);
  const tokenize = (t: string) => o.llm.tokenize(t);
  const vocab = await o.llm.vocabulary();
  const eos = vocab.eos !== undefined && vocab.eos >= 0 ? [vocab.eos] : [];
  return runInContext<VqaItem, VqaItem, VqaRecord>({
    ...taskRunBase('vqa', o, 'global tokens come from the random-weight STAND-IN CLIP: the answers and accuracy are meaningless'),
    prompt: (shots, q) => vqaPrompt(
      shots.map((s) => ({ globalTexts: s.texts, question: s.item.question, answer: s.item.answers[pick(s.item.answers.length, s.seed)]! })),
      { globalTexts: q.texts, question: q.item.question }, o.protocol, tokenize,
    ),
    async answer(p, q) {
      const r = await generateFirstWord(o.llm, p.prompt, { prefix: p.prefix, maxTokens: o.maxTokens, eos });
      return {
        fields: {
          question: q.question, prediction: r.word, generated: r.text, stopReason: r.stopReason,
          ...(q.answers.length ? { answers: q.answers, accuracy: vqaAccuracy(r.word, q.answers) } : {}),
        },
        calls: r.ids.length + (r.stopReason === 'eos' ? 1 : 0),
      };
    },
    figures(records) {
      const scored = records.filter((r) => typeof r.accuracy === 'number');
      const f: RunSummary['figures'] = { questions: records.length };
      if (scored.length) {
        f.accuracy = scored.reduce((a, r) => a + r.accuracy!, 0) / scored.length;
        f.scoredQuestions = scored.length;
      }
      return f;
    },
  });
}
