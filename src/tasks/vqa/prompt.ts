// The VQA prompt of the paper (§4.2, Fig. 5; tasks-spec.md §2), as text segments. Portable.
//
//   Answer the question with a single word based on the condition.
//   Condition: <global tokens of shot 1>. Question: <question 1> Answer: <answer 1>
//   ... (10 shots)
//   Condition: <global tokens of the query>. Question: <question> Answer:
//
// The paper writes "Question: Q. Answer:"; a question that already ends with "?", "." or "!" gets no
// extra ".". Samples are separated by line breaks (the paper does not say). The instruction and the shots
// form the prefix (evaluated once, reused across queries when the shots are fixed).
import { globalText } from '../global-text.js';
import { segmentsPrompt, type PlainTokenize, type PromptProtocol } from '../prompt-protocol.js';
import type { Prompt } from '../../models/llm/types.js';

export const VQA_INSTRUCTION = 'Answer the question with a single word based on the condition.';

export interface VqaShot {
  globalTexts: readonly string[];
  question: string;
  answer: string;
}

function question(q: string): string {
  const t = q.trim();
  return /[?.!]$/.test(t) ? t : `${t}.`;
}

const style = (p: PromptProtocol) => (p === 'reference' ? 'reference' : 'words');

export function vqaPrefixSegments(shots: readonly VqaShot[], protocol: PromptProtocol): string[] {
  const segs = [`${VQA_INSTRUCTION}\n`];
  for (const s of shots) {
    const a = s.answer.trim();
    if (!a) throw new Error(`empty answer for the in-context question ${JSON.stringify(s.question)}`);
    segs.push('Condition: ', globalText(s.globalTexts, style(protocol)), '. Question: ', question(s.question), ' Answer: ', `${a}\n`);
  }
  return segs;
}

export function vqaQuerySegments(globalTexts: readonly string[], q: string, protocol: PromptProtocol): string[] {
  return ['Condition: ', globalText(globalTexts, style(protocol)), '. Question: ', question(q), ' Answer:'];
}

export async function vqaPrompt(
  shots: readonly VqaShot[], query: { globalTexts: readonly string[]; question: string }, protocol: PromptProtocol, tokenize: PlainTokenize,
): Promise<{ prefix: Prompt; prompt: Prompt }> {
  return {
    prefix: await segmentsPrompt(vqaPrefixSegments(shots, protocol), protocol, tokenize),
    prompt: await segmentsPrompt(vqaQuerySegments(query.globalTexts, query.question, protocol), protocol, tokenize),
  };
}
