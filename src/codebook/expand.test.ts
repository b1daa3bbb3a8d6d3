import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, appendFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandVocabulary, expansionCandidates, type ExpansionBatch, type ExpansionJournal } from './expand.js';
import { FileExpansionJournal } from './journal.js';
import { candidateText, isSpecialToken, referenceTokenText, tokenStyleOf } from './render.js';
import { LlamaCppLLM } from '../models/llm/llama-cpp.js';
import { skipUnless } from '../util/test-utils/shared.js';

const STORIES = new URL('../../../shared/models/stories260K/stories260K.gguf', import.meta.url).pathname;
const skip = skipUnless(STORIES, 'the stories260K model');

class MemoryJournal implements ExpansionJournal {
  constructor(public batches: ExpansionBatch[] = []) {}
  done(): readonly ExpansionBatch[] {
    return this.batches;
  }
  append(b: ExpansionBatch): void {
    this.batches.push(b);
  }
}

test('expansion of stories260K: greedy continuations after the reused prefix, resumable from a journal', { skip }, async () => {
  const llm = await LlamaCppLLM.load(STORIES);
  try {
    const vocab = await llm.vocabulary();
    const exclude = new Set(vocab.tokens.flatMap((t, i) => (isSpecialToken(t, vocab.types?.[i]) ? [i] : [])));
    const full = new MemoryJournal();
    const a = await expandVocabulary(llm, vocab.size, { prefix: 'a photo of', m: 1, batchSize: 64, exclude, journal: full });
    assert.equal(a.stats.computedPrompts, 512 + 512);
    assert.equal(full.batches.length, 16);
    const { next1, next2 } = a.expansion;
    assert.ok(next1.every((id) => id >= 0 && !exclude.has(id)) && next2.every((id) => id >= 0 && !exclude.has(id)));
    // Spot-check against direct queries: "a photo of" + [t] and "a photo of" + [t, t1].
    for (const t of [300, 350, 400, 511]) {
      const [top] = await llm.topK([[{ ids: [t] }]], 4, { prefix: 'a photo of' });
      assert.equal(next1[t], top.find((e) => !exclude.has(e.id))!.id, `bigram of ${vocab.tokens[t]}`);
      const [top2] = await llm.topK([[{ ids: [t, next1[t]] }]], 4, { prefix: 'a photo of' });
      assert.equal(next2[t], top2.find((e) => !exclude.has(e.id))!.id, `trigram of ${vocab.tokens[t]}`);
    }
    // Resume: with the first 5 bigram batches and 3 trigram batches journaled, only the rest is asked.
    const partial = new MemoryJournal([...full.batches.slice(0, 5), ...full.batches.slice(8, 11)]);
    const b = await expandVocabulary(llm, vocab.size, { prefix: 'a photo of', m: 1, batchSize: 64, exclude, journal: partial });
    assert.equal(b.stats.resumedPrompts, 8 * 64);
    assert.equal(b.stats.computedPrompts, 1024 - 8 * 64);
    assert.deepEqual(b.expansion.next1, next1);
    assert.deepEqual(b.expansion.next2, next2);
    // The reference's prompts: " " + decoded text, re-tokenized after the prefix. A "▁" piece reads the
    // same either way; a piece without it ("he") becomes a word of its own ("a photo of he").
    const text = await expandVocabulary(llm, vocab.size, {
      prefix: 'a photo of', m: 1, batchSize: 128, exclude, promptStyle: 'text', tokenText: (id) => referenceTokenText(id, vocab, 'sentencepiece'),
    });
    const the = vocab.tokens.indexOf('▁the');
    const he = vocab.tokens.indexOf('he');
    assert.equal(text.expansion.next1[the], next1[the]);
    for (const t of [the, he]) {
      const [top] = await llm.topK([' ' + referenceTokenText(t, vocab, 'sentencepiece')], 4, { prefix: 'a photo of' });
      assert.equal(text.expansion.next1[t], top.find((e) => !exclude.has(e.id))!.id);
      const t1 = text.expansion.next1[t];
      const [top2] = await llm.topK([' ' + referenceTokenText(t, vocab, 'sentencepiece') + referenceTokenText(t1, vocab, 'sentencepiece')], 4, { prefix: 'a photo of' });
      assert.equal(text.expansion.next2[t], top2.find((e) => !exclude.has(e.id))!.id);
    }
    let differ = 0;
    for (let t = 0; t < 512; t++) if (text.expansion.next1[t] !== next1[t]) differ++;
    assert.ok(differ > 0, 'the two prompt styles are different experiments');

    // M = 2: two continuations per prompt, N + 2N + 4N candidates before dedupe.
    const c = await expandVocabulary(llm, vocab.size, { prefix: 'a photo of', m: 2, batchSize: 128, exclude });
    assert.equal(c.expansion.next1.length, 1024);
    assert.equal(c.expansion.next2.length, 2048);
    for (let t = 0; t < 512; t++) assert.equal(c.expansion.next1[2 * t], next1[t], 'the best continuation is the greedy one');
    const style = tokenStyleOf(vocab);
    const cands = expansionCandidates(c.expansion, (ids) => candidateText(ids, vocab, style));
    assert.equal(cands.counts.beforeDedupe, 512 * 7);
    assert.equal(new Set(cands.candidates.map((x) => x.text)).size, cands.candidates.length, 'deduplicated');
    assert.ok(cands.candidates.some((x) => x.ids.length === 3), 'has trigrams');
  } finally {
    await llm.dispose();
  }
});

test('expansion asks for a few entries first and again with room for every excluded token: the same continuations as one top-(M + |exclude|)', { skip }, async () => {
  const llm = await LlamaCppLLM.load(STORIES);
  try {
    const vocab = await llm.vocabulary();
    const prefix = 'a photo of';
    const subwords = Array.from({ length: 48 }, (_, i) => 300 + i);
    // Excluded: the specials and the 12 best next tokens after subword 300 (so that its first answer of
    // M + 8 entries holds none usable and it is asked again), 40 tokens in all with others spread out.
    const [best] = await llm.topK([[{ ids: [300] }]], 12, { prefix });
    const exclude = new Set([0, 1, 2, ...best!.map((e) => e.id)]);
    for (let id = 3; exclude.size < 40; id += 13) exclude.add(id);
    for (const m of [1, 2]) {
      const got = await expandVocabulary(llm, vocab.size, { prefix, m, batchSize: 64, exclude, limit: 348 });
      const direct = await llm.topK(subwords.map((t) => [{ ids: [t] }]), m + exclude.size, { prefix });
      subwords.forEach((t, i) => {
        const want = direct[i]!.filter((e) => !exclude.has(e.id)).slice(0, m).map((e) => e.id);
        assert.deepEqual([...got.expansion.next1.subarray(t * m, (t + 1) * m)], want, `subword ${t}, M = ${m}`);
      });
    }
  } finally {
    await llm.dispose();
  }
});

test('candidates come in paper order, deduplicated by text, first occurrence kept', () => {
  const tokens = ['<unk>', '<s>', '</s>', '▁big', '▁dog', 's'];
  const vocab = { tokens };
  const e = { vocabSize: 6, m: 1, next1: Int32Array.from([3, 3, 3, 4, 5, 4]), next2: Int32Array.from([4, 4, 4, 5, 3, 5]) };
  const { candidates, counts } = expansionCandidates(e, (ids) => candidateText(ids, vocab, 'sentencepiece'));
  assert.deepEqual(counts, { subwords: 6, bigrams: 6, trigrams: 6, beforeDedupe: 18, afterDedupe: candidates.length });
  assert.deepEqual(candidates.slice(0, 6).map((c) => c.text), ['unknown', 'start', 'end', 'big', 'dog', 's']);
  const texts = candidates.map((c) => c.text);
  assert.ok(texts.includes('big dog') && texts.includes('dogs') && texts.includes('big dogs'));
  assert.equal(new Set(texts).size, texts.length);
  // "<unk> big" -> "big" (specials carry no text) is a duplicate of the subword and is dropped.
  assert.equal(texts.filter((t) => t === 'big').length, 1);
});

test('the file journal keeps finished batches, cuts a torn last line, refuses another configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-journal-'));
  try {
    const path = join(dir, 'work', 'expand.jsonl');
    const cfg = { vocabHash: 'abc', prefix: 'a photo of', m: 1 };
    const j = new FileExpansionJournal(path, cfg);
    j.append({ phase: 1, start: 0, next: [5, 6] });
    j.append({ phase: 1, start: 2, next: [7, 8] });
    j.close();
    appendFileSync(path, '{"phase":1,"start":4,"ne'); // a kill in the middle of a write
    const k = new FileExpansionJournal(path, cfg);
    assert.deepEqual(k.done().map((b) => b.start), [0, 2]);
    k.append({ phase: 2, start: 0, next: [1, 1] });
    k.close();
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.deepEqual(JSON.parse(lines[3]), { phase: 2, start: 0, next: [1, 1] });
    assert.throws(() => new FileExpansionJournal(path, { ...cfg, prefix: 'a picture of' }), /different configuration \(prefix: "a photo of" then, "a picture of" now\)/);
    writeFileSync(join(dir, 'other.jsonl'), '{"hello":1}\n');
    assert.throws(() => new FileExpansionJournal(join(dir, 'other.jsonl'), cfg), /not an expansion journal/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
