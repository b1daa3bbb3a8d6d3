// The N-way K-shot classification prompt, both protocols, as text pieces, and how the pieces become the
// exact ids given to the LLM. Portable: the model's tokenizer is passed in.
//
// `reference` (eval_understanding.py:83-157, tasks-spec.md §1), reproduced id for id, bugs included:
//   [BOS] enc(I) R x { enc("###\nInput: < ") enc(G_s) enc(" >\nOutput: ") enc(label_s) }
//         enc("###\nInput: < ") enc(G_q) enc(" >\nOutput: ")
//   - every piece is encoded SEPARATELY with SentencePiece's dummy "▁" prefix (never the joined string);
//   - I = "For each of the following input output pairs, output is one of ['A' or ['B']\n" over the
//     sorted unique names: every name opens a "[" that is never closed (reference bug, kept);
//   - G = the k global-token strings glued with no separator ("goldfish"+"fish" -> "goldfishfish");
//   - R = repeats + 1 copies of the whole support block, in file order.
// `paper` (the paper's Fig. 3 text; v2l's default): one natural text,
//   "For each of the following input-output pairs, output is one of [“A”, “B”]. Input: T, output: L. ...
//    Input: T, output:", global tokens as space-separated words, names with spaces for underscores;
//   it is tokenized as the model tokenizes that text (first piece plain, every later piece a continuation
//   that starts with its own space, so that piece boundaries fall on word boundaries).
import { globalText } from '../global-text.js';
import { tokenizeContinuation } from '../../models/llm/prompt.js';

export type FewshotProtocol = 'reference' | 'paper';

/** What a piece of the prompt is, for rendering (image-token spans) and for tests. */
export type SegmentKind = 'bos' | 'instruction' | 'text' | 'image' | 'label';

export interface Segment {
  kind: SegmentKind;
  /** The text of the piece ('' for BOS). */
  text: string;
  /** For `image`: the support index (0-based, file order) or -1 for the query. For `label`: the support index. */
  ref?: number;
}

export interface FewshotExample {
  /** The global tokens' texts, nearest first, as the codebook stores them. */
  globalTexts: readonly string[];
  /** The class name as in the wnid -> name mapping. */
  label: string;
}

export interface FewshotPromptInput {
  protocol: FewshotProtocol;
  induction: boolean;
  /** Extra copies of the whole support block (0 = shown once). */
  repeats: number;
  support: readonly FewshotExample[];
  query: { globalTexts: readonly string[] };
  /**
   * Names listed in the induction sentence. Default: the unique support names, as the reference's
   * `np.unique` over the episode's names (the query's class is always one of the support classes).
   */
  classNames?: readonly string[];
}

export const REFERENCE_IN = '###\nInput: < ';
export const REFERENCE_OUT = ' >\nOutput: ';

/** Sorted unique names by code point, as numpy's `np.unique` sorts Python strings (uppercase first). */
export function uniqueSorted(names: readonly string[]): string[] {
  return [...new Set(names)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The reference's instruction line, bug included: "... one of ['A' or ['B']\n". */
export function referenceInstruction(names: readonly string[]): string {
  return 'For each of the following input output pairs, output is one of ' + names.map((n) => `['${n}'`).join(' or ') + ']\n';
}

/** A class name as the paper writes it: "French_bulldog" -> "French bulldog". */
export function paperName(name: string): string {
  return name.replaceAll('_', ' ');
}

export function paperInstruction(names: readonly string[]): string {
  return `For each of the following input-output pairs, output is one of [${names.map((n) => `“${paperName(n)}”`).join(', ')}].`;
}

/** The answer text that follows the prompt for a class (what the support's labels look like). */
export function answerText(protocol: FewshotProtocol, name: string): string {
  return protocol === 'reference' ? name : ' ' + paperName(name);
}

export function buildFewshotPrompt(p: FewshotPromptInput): Segment[] {
  if (!Number.isInteger(p.repeats) || p.repeats < 0) throw new Error(`repeats must be a non-negative integer (got ${p.repeats})`);
  if (p.support.length === 0) throw new Error('a few-shot prompt needs at least one support example');
  const names = p.classNames ? uniqueSorted(p.classNames) : uniqueSorted(p.support.map((s) => s.label));
  const out: Segment[] = [{ kind: 'bos', text: '' }];
  if (p.protocol === 'reference') {
    if (p.induction) out.push({ kind: 'instruction', text: referenceInstruction(names) });
    for (let r = 0; r <= p.repeats; r++) {
      p.support.forEach((s, i) => {
        out.push({ kind: 'text', text: REFERENCE_IN }, { kind: 'image', text: globalText(s.globalTexts, 'reference'), ref: i });
        out.push({ kind: 'text', text: REFERENCE_OUT }, { kind: 'label', text: s.label, ref: i });
      });
    }
    out.push({ kind: 'text', text: REFERENCE_IN }, { kind: 'image', text: globalText(p.query.globalTexts, 'reference'), ref: -1 });
    out.push({ kind: 'text', text: REFERENCE_OUT });
    return out;
  }
  // paper: every piece after the first starts with its own space (see the file comment).
  let first = true;
  const text = (t: string) => {
    out.push({ kind: 'text', text: first ? t.trimStart() : t });
    first = false;
  };
  if (p.induction) {
    out.push({ kind: 'instruction', text: paperInstruction(names) });
    first = false;
  }
  for (let r = 0; r <= p.repeats; r++) {
    p.support.forEach((s, i) => {
      text(' Input:');
      out.push({ kind: 'image', text: ' ' + globalText(s.globalTexts, 'words'), ref: i });
      text(', output:');
      out.push({ kind: 'label', text: answerText('paper', s.label), ref: i });
      text('.');
    });
  }
  text(' Input:');
  out.push({ kind: 'image', text: ' ' + globalText(p.query.globalTexts, 'words'), ref: -1 });
  text(', output:');
  return out;
}

/** The model's plain tokenizer (no BOS, dummy prefix as the model does) and its BOS id. */
export interface FewshotTokenizer {
  tokenize(text: string): Promise<number[]> | number[];
  bos?: number;
}

export interface EncodedPrompt {
  ids: number[];
  /** [start, end) of every segment in `ids`, parallel to the segments. */
  spans: [number, number][];
}

/**
 * The ids of a prompt. reference: each piece encoded on its own, dummy prefix included (sp.encode);
 * paper: the first text piece as a plain string, every later one as a continuation.
 */
export async function encodePrompt(segments: readonly Segment[], protocol: FewshotProtocol, tok: FewshotTokenizer): Promise<EncodedPrompt> {
  const ids: number[] = [];
  const spans: [number, number][] = [];
  let started = false;
  for (const s of segments) {
    const start = ids.length;
    if (s.kind === 'bos') {
      if (tok.bos === undefined || tok.bos < 0) throw new Error('the model has no BOS token; the few-shot prompt starts with one');
      ids.push(tok.bos);
    } else if (s.text !== '') {
      if (protocol === 'reference' || !started) ids.push(...(await tok.tokenize(s.text)));
      else ids.push(...(await tokenizeContinuation(tok, s.text)));
      started = true;
    }
    spans.push([start, ids.length]);
  }
  return { ids, spans };
}

/** The ids of a class's answer as it appears after the prompt (and as the support's labels are encoded). */
export async function answerIds(protocol: FewshotProtocol, name: string, tok: FewshotTokenizer): Promise<number[]> {
  const text = answerText(protocol, name);
  return protocol === 'reference' ? [...(await tok.tokenize(text))] : tokenizeContinuation(tok, text);
}

/**
 * The prompt as text with its image-token spans marked, for people and viewers:
 * `⟦img 0: goldfishfish⟧`, `⟦query: …⟧`, labels as `⟪golden_retriever⟫`, BOS as `<s>`.
 */
export function renderPrompt(segments: readonly Segment[]): string {
  return segments.map((s) => {
    if (s.kind === 'bos') return '<s>';
    const lead = /^\s*/.exec(s.text)![0]; // a piece's own leading space goes outside the marks
    const body = s.text.slice(lead.length);
    if (s.kind === 'image') return `${lead}⟦${s.ref === -1 ? 'query' : `img ${s.ref}`}: ${body}⟧`;
    if (s.kind === 'label') return `${lead}⟪${body}⟫`;
    return s.text;
  }).join('');
}
