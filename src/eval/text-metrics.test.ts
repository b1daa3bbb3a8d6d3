// BLEU, CIDEr-D and VQA accuracy on small cases computed by hand (and one CIDEr-D set checked against a
// re-typing of coco-caption's cider_scorer.py in Python).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bleu, ciderD, ptbTokenize, captionScores } from './caption-metrics.js';
import { vqaAccuracy, normalizeAnswer, meanVqaAccuracy, processPunctuation } from './vqa-accuracy.js';

const close = (a: number, b: number, tol = 1e-9): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('BLEU by hand: "the cat sat on the mat" vs "the cat is on the mat"', () => {
  // Clipped matches: unigrams 5/6, bigrams 3/5 (the cat, on the, the mat), trigrams 1/4 (on the mat),
  // 4-grams 0/3; equal lengths, so no brevity penalty.
  const r = bleu([{ candidate: 'the cat sat on the mat', references: ['the cat is on the mat'] }]);
  close(r.bleu[0], 5 / 6);
  close(r.bleu[1], Math.sqrt(0.5));
  close(r.bleu[2], 0.5);
  // No matching 4-gram: coco-caption's 1e-15 smoothing gives (1/8 · 1e-15/3)^(1/4), not 0.
  close(r.bleu[3], (0.125 * (1e-15 / (3 + 1e-9))) ** 0.25, 1e-12);
});

test('BLEU: the closest reference length sets the brevity penalty; counts are clipped by the best reference', () => {
  // Candidate 4 words; references of 3 and 6 words: closest is 3 (|4-3| < |4-6|), no penalty.
  const r = bleu([{ candidate: 'a a a a', references: ['a b c', 'a a x y z w'] }]);
  close(r.bleu[0], 2 / 4); // "a" clipped at 2 (second reference)
  // A 2-word candidate against a 4-word reference: penalty exp(1 - 4/2).
  const s = bleu([{ candidate: 'red car', references: ['a red car here'] }]);
  close(s.bleu[0], Math.exp(1 - 2), 1e-9);
  // Corpus level: counts summed before the ratio (not an average of sentence scores).
  const c = bleu([{ candidate: 'x y', references: ['x y'] }, { candidate: 'p q', references: ['r s'] }]);
  close(c.bleu[0], 2 / 4, 1e-9);
});

test('CIDEr-D: identical captions with disjoint references score 10; a one-image set scores 0 (idf = 0)', () => {
  const two = ciderD([
    { candidate: 'a cat sits on a mat', references: ['a cat sits on a mat'] },
    { candidate: 'one dog runs in the park', references: ['one dog runs in the park'] },
  ]);
  close(two.perSample[0], 10);
  close(two.perSample[1], 10);
  // With one image every n-gram has df = 1 = the number of images: log(1) - log(1) = 0 weights.
  close(ciderD([{ candidate: 'a cat', references: ['a cat'] }]).cider, 0);
});

test('CIDEr-D equals coco-caption cider_scorer on a three-image set', () => {
  const r = ciderD([
    { candidate: 'a man riding a horse on a beach', references: ['a man rides a horse on the beach', 'a person on a horse near the ocean', 'a horse and rider at the beach'] },
    { candidate: 'two dogs playing in the grass', references: ['two dogs play in a grassy field', 'a pair of dogs running on grass'] },
    { candidate: 'a plate of food on a table', references: ['a plate with food sits on a wooden table', 'food on a white plate on a table', 'a meal served on a table'] },
  ]);
  // Values from a Python transcription of pycocoevalcap/cider/cider_scorer.py (numpy float64).
  close(r.perSample[0], 1.8909608345248872, 1e-12);
  close(r.perSample[1], 1.2915893032309147, 1e-12);
  close(r.perSample[2], 2.5207083808316204, 1e-12);
  close(r.cider, 1.901086172862474, 1e-12);
});

test('PTB-style tokenisation: lower case, punctuation dropped, clitics split', () => {
  assert.equal(ptbTokenize('A man, riding a HORSE.'), 'a man riding a horse');
  assert.equal(ptbTokenize("The dog's ball isn't red!"), "the dog 's ball is n't red");
  assert.equal(ptbTokenize('A t-shirt (blue) in the U.S.'), 'a t-shirt blue in the u.s');
  const s = captionScores([{ candidate: 'A cat.', references: ['a cat'] }, { candidate: 'A dog!', references: ['a dog'] }]);
  close(s.bleu[0], 1, 1e-9);
});

test('VQA answer normalisation as vqaEval.py', () => {
  assert.equal(normalizeAnswer('Two.'), '2');
  assert.equal(normalizeAnswer('the dog'), 'dog');
  assert.equal(normalizeAnswer('Dont'), "don't");
  assert.equal(normalizeAnswer(' yes!\n'), 'yes');
  assert.equal(normalizeAnswer('3.5'), '3.5');
  // "d,d" anywhere: marks are deleted, not spaced ("1,000" -> "1000").
  assert.equal(processPunctuation('1,000'), '1000');
  assert.equal(processPunctuation('black/white'), 'black white');
});

test('VQA accuracy by hand: min(1, matches among the other nine / 3), averaged over ten', () => {
  const tenRed = ['red', 'red', ...new Array<string>(8).fill('blue')];
  // Leaving out a "red": 1 other red -> 1/3 (twice); leaving out a "blue": 2 reds -> 2/3 (eight times).
  close(vqaAccuracy('red', tenRed), (2 / 3 + 8 * (2 / 3)) / 10);
  close(vqaAccuracy('Red.', tenRed), 0.6);
  close(vqaAccuracy('blue', tenRed), 1);
  close(vqaAccuracy('green', tenRed), 0);
  // Single answer (COCO-QA, easy-VQA): exact match after normalisation.
  assert.equal(vqaAccuracy('The Circle', ['circle']), 1);
  assert.equal(vqaAccuracy('square', ['circle']), 0);
  close(meanVqaAccuracy(['circle', 'no', 'blue'], [['circle'], ['yes'], tenRed]), 2 / 3);
  assert.throws(() => vqaAccuracy('x', []), /at least one/);
});
