// One few-shot query answered by the LLM (portable): trie decoding over the class names (the output is
// always one of them) or the reference's free decoding with its mask; shared by the run (./run.ts) and the
// browser runtime (src/browser/tasks.ts).
import type { LLM, Vocabulary } from '../../models/llm/types.js';
import { tokenizeContinuation } from '../../models/llm/prompt.js';
import { answerIds, answerText, paperName, type FewshotProtocol, type FewshotTokenizer } from './prompt.js';
import { classOfText, exactAnswer, referenceDecodeCounted, spDecode, unionMask } from './decode.js';

export type FewshotDecoding = 'trie' | 'reference';

export interface AnswerOptions {
  llm: LLM;
  protocol: FewshotProtocol;
  decoding: FewshotDecoding;
  induction: boolean;
  /** Reference decoding only: the reference's max_seq_len cap (see referenceDecode). */
  maxSeqLen?: number;
}

export interface Answer {
  ids: number[];
  text: string;
  prediction: string | null;
  calls: number;
}

export async function answerQuery(o: AnswerOptions, vocab: Vocabulary, tok: FewshotTokenizer, ids: number[], names: string[], eos: number): Promise<Answer> {
  const answers = await Promise.all(names.map((n) => answerIds(o.protocol, n, tok)));
  if (o.decoding === 'trie') {
    // choose() tokenizes candidates as continuations; " name" must give exactly the answer ids.
    const texts = names.map((n) => (o.protocol === 'reference' ? ' ' + n : answerText('paper', n)));
    for (let i = 0; i < names.length; i++) {
      const c = await tokenizeContinuation(tok, texts[i]!);
      if (c.join() !== answers[i]!.join()) throw new Error(`class "${names[i]}": its answer tokens [${answers[i]}] cannot be given to the trie decoder as text (it tokenizes to [${c}]); use --decoding reference`);
    }
    const r = await o.llm.choose([{ ids }], texts, { addBos: false });
    return { ids: answers[r.index]!, text: o.protocol === 'reference' ? names[r.index]! : paperName(names[r.index]!), prediction: names[r.index]!, calls: 1 };
  }
  const mask = o.induction ? unionMask(answers, eos, 16) : null;
  const { ids: out, calls } = await referenceDecodeCounted(o.llm, ids, { mask, maxTokens: 16, maxSeqLen: o.maxSeqLen, eos });
  if (o.protocol === 'paper') {
    const cut = out.indexOf(eos);
    const said = exactAnswer(spDecode(vocab, cut >= 0 ? out.slice(0, cut) : out));
    const hit = names.find((n) => paperName(n) === said) ?? null;
    return { ids: out, text: spDecode(vocab, out), prediction: hit, calls };
  }
  const text = spDecode(vocab, out);
  return { ids: out, text, prediction: classOfText(text, names), calls };
}

