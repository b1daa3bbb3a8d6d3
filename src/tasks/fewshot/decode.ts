// How the answer is read from the LLM, and how it is scored. Portable: the model is the `LLM` interface.
//
// `trie` (v2l's default): `LLM.choose` over the class names' answer texts, a greedy walk of their token
//   trie; the answer is always one of the classes; correct iff it is the query's class.
// `reference` (generation.py:183-297, eval_understanding.py:159-166, 367-381): exactly 16 greedy ids, EOS
//   does not stop (eos_id = -1); with induction, position j may only take ids in the UNION over the
//   episode's classes of the j-th id of enc(name)+[EOS] (a per-position union, not a trie: it can emit a
//   hybrid of two names), positions past the longest name allow nothing and produce id 0 (<unk>);
//   without induction decoding is unconstrained. Scored by prefix: correct iff the decoded text
//   (sp.decode, first "▁" dropped) starts with the query's name, whatever follows.
import type { LLM, Prompt, TopKEntry, Vocabulary } from '../../models/llm/types.js';
import { TokenType, tokenBytes } from '../../models/llm/vocabulary.js';

/** Row j: the ids allowed at generated position j (sorted), for `rows` positions. */
export function unionMask(answers: readonly (readonly number[])[], eos: number, rows = 16): number[][] {
  const out: Set<number>[] = Array.from({ length: rows }, () => new Set());
  for (const a of answers) {
    [...a, eos].forEach((id, j) => {
      if (j < rows) out[j]!.add(id);
    });
  }
  return out.map((s) => [...s].sort((x, y) => x - y));
}

export interface ReferenceDecodeOptions {
  /** Per-position allowed ids (unionMask), or null for unconstrained greedy decoding (no induction). */
  mask: readonly (readonly number[])[] | null;
  /** Ids generated (16 in the reference). */
  maxTokens?: number;
  /**
   * The reference's `max_seq_len`: generation stops at prompt + maxTokens or at this length, whichever
   * comes first (a reference bug: near the cap the answer is cut silently); a longer prompt is refused.
   */
  maxSeqLen?: number;
  /** How many alternatives to ask for per step before falling back to scoring the allowed ids (remote servers cap it). */
  topK?: number;
  /** The EOS id: what a greedy step that produced nothing stands for (unconstrained fallback). */
  eos?: number;
}

/**
 * The reference's masked greedy decoding. At each step the allowed id with the highest probability is
 * taken (ties: the lower id, as torch.argmax over ids); it is read from `LLM.topK` when one of the allowed
 * ids is among the top alternatives (the first allowed entry of a sorted top-k list is the allowed
 * argmax), else every allowed id is scored (`LLM.score`). An empty row gives id 0, as argmax over zeros.
 * Unconstrained steps take the top-1 entry (or, where top-k fails, one greedy `generate` step).
 */
export async function referenceDecode(llm: LLM, promptIds: readonly number[], o: ReferenceDecodeOptions): Promise<number[]> {
  return (await referenceDecodeCounted(llm, promptIds, o)).ids;
}

/** referenceDecode, also counting the LLM calls made (an empty mask row needs none). */
export async function referenceDecodeCounted(llm: LLM, promptIds: readonly number[], o: ReferenceDecodeOptions): Promise<{ ids: number[]; calls: number }> {
  const max = o.maxTokens ?? 16;
  let n = max;
  if (o.maxSeqLen !== undefined) {
    if (promptIds.length > o.maxSeqLen) throw new Error(`prompt of ${promptIds.length} ids exceeds --max-seq-len ${o.maxSeqLen} (the reference asserts here)`);
    n = Math.min(max, o.maxSeqLen - promptIds.length);
  }
  const k = o.topK ?? 20;
  const out: number[] = [];
  let calls = 0;
  for (let j = 0; j < n; j++) {
    const prompt: Prompt = [{ ids: [...promptIds, ...out] }];
    const allowed = o.mask ? (o.mask[j] ?? []) : null;
    if (allowed && allowed.length === 0) {
      out.push(0);
      continue;
    }
    let top: TopKEntry[] | undefined;
    let topError: unknown;
    try {
      [top] = await llm.topK([prompt], allowed ? k : 1, { addBos: false });
    } catch (e) {
      // Some servers answer a top-k request with nothing when the argmax is EOS (generation stops there
      // before reporting the position): fall back to the requests below, which are exact too.
      topError = e;
    }
    calls++;
    const set = allowed ? new Set(allowed) : null;
    const hit = top && (set ? top.find((e) => set.has(e.id)) : top[0]);
    if (hit) {
      out.push(hit.id);
      continue;
    }
    calls++;
    if (!allowed) {
      // Unconstrained: one greedy id; none generated means the model ended, i.e. the argmax was EOS.
      try {
        const g = await llm.generate(prompt, { maxTokens: 1, temperature: 0, addBos: false });
        if (g.ids.length === 0 && o.eos === undefined) throw new Error('the model ended without an id and no EOS id is known');
        out.push(g.ids[0] ?? o.eos!);
      } catch (e) {
        throw topError ?? e;
      }
      continue;
    }
    const lps = await llm.score(prompt, allowed!.map((id): Prompt => [{ ids: [id] }]), { addBos: false });
    let best = 0;
    for (let i = 1; i < allowed!.length; i++) if (lps[i]![0]! > lps[best]![0]!) best = i;
    out.push(allowed![best]!);
  }
  return { ids: out, calls };
}

/**
 * SentencePiece's `decode` of generated ids: pieces joined ("▁" = space, byte pieces as bytes), control
 * tokens as nothing, <unk> as " ⁇ ", and the leading space of the first piece dropped.
 */
export function spDecode(vocab: Vocabulary, ids: readonly number[]): string {
  const parts: Uint8Array[] = ids.map((id) => (vocab.types?.[id] === TokenType.unknown ? new TextEncoder().encode(' \u2047 ') : tokenBytes(vocab, id)));
  const all = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const text = new TextDecoder().decode(all);
  return text.startsWith(' ') ? text.slice(1) : text;
}

/** The reference's scoring (U:381): the decoded text starts with the true name. */
export function prefixCorrect(text: string, truth: string): boolean {
  return text.slice(0, truth.length) === truth;
}

/** The class a free-form answer names: the longest name it starts with (null when none). */
export function classOfText(text: string, names: readonly string[]): string | null {
  let best: string | null = null;
  for (const n of names) if (text.startsWith(n) && (best === null || n.length > best.length)) best = n;
  return best;
}

/**
 * The paper's scoring of a free-form answer ("correct only if all the generated tokens match the tokens of
 * the category name"): the answer up to the first EOS, ".", or newline, trimmed, is exactly the name.
 */
export function exactAnswer(text: string): string {
  const cut = text.search(/[.\n]/);
  return (cut >= 0 ? text.slice(0, cut) : text).trim();
}
