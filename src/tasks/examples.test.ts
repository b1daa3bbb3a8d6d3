// The task input readers: JSON documents and lines with errors naming file:line, COCO captions, the
// captions list of ../shared, COCO-QA-style records, easy-VQA's questions.json; seeded shot draws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonErrorOffset, lineColumn, parseJsonInput, arrayElementLines } from './json-input.js';
import { parseCaptionExamples } from './caption/examples.js';
import { parseVqaExamples } from './vqa/examples.js';
import { readCaptionItems } from './caption/run.js';
import { readVqaItems } from './vqa/run.js';
import { checkImages } from './in-context-run.js';
import { drawIndices, querySeed } from './shots.js';
import { sharedPath, skipUnless } from '../util/test-utils/shared.js';

test('json input: a malformed line of JSON lines is named', () => {
  assert.throws(() => parseJsonInput('{"a":1}\n\n{"a":2\n{"a":3}\n', 'q.jsonl'), /^Error: q\.jsonl:3: not a JSON line/);
  const rows = parseJsonInput('{"a":1}\n{"a":2}\n', 'q.txt');
  assert.equal(rows.kind, 'lines');
  assert.deepEqual(rows.kind === 'lines' && rows.rows.map((r) => r.line), [1, 2]);
});

test('json input: a broken JSON document names line and column', () => {
  const text = '[\n  {"image": "a.jpg"},\n  {"image": "b.jpg",, "x": 1}\n]';
  assert.equal(jsonErrorOffset(text), text.indexOf(',,') + 1);
  assert.deepEqual(lineColumn(text, text.indexOf(',,') + 1), { line: 3, column: 21 });
  assert.throws(() => parseJsonInput(text, 'caps.json'), /^Error: caps\.json:3:21: not valid JSON/);
  assert.equal(jsonErrorOffset('{"a": [1, 2.5e3, "x\\n", true, null]}'), -1);
  assert.equal(jsonErrorOffset('{"a": 01}'), 7);
  assert.deepEqual(arrayElementLines('[\n {"a": "[x,"},\n [1,\n 2],\n 3\n]'), [2, 3, 5]);
});

test('caption examples: COCO captions JSON, the captions list, JSON lines', () => {
  const coco = JSON.stringify({
    images: [{ id: 7, file_name: 'b.jpg' }, { id: 3, file_name: 'a.jpg' }],
    annotations: [{ image_id: 3, caption: 'A cat.' }, { image_id: 7, caption: 'A dog.' }, { image_id: 3, caption: ' Another cat ' }],
  });
  assert.deepEqual(parseCaptionExamples(coco, 'c.json').map((e) => [e.image, e.captions]), [['b.jpg', ['A dog.']], ['a.jpg', ['A cat.', 'Another cat']]]);
  assert.throws(() => parseCaptionExamples(JSON.stringify({ images: [{ id: 1, file_name: 'a.jpg' }], annotations: [{ image_id: 2, caption: 'x' }] }), 'c.json'), /annotations\[0\] names image_id 2/);
  assert.throws(() => parseCaptionExamples('[\n {"image": "a.jpg", "captions": ["x"]},\n {"image": "b.jpg"}\n]', 'l.json'), /^Error: l\.json:3 \(element 1\): expected "captions"/);
  const lines = parseCaptionExamples('{"image": "a.jpg", "caption": "one"}\n{"image": "a.jpg", "caption": "two"}\n', 'c.jsonl');
  assert.deepEqual(lines.map((e) => e.captions), [['one', 'two']]);
  assert.throws(() => parseCaptionExamples('{"image": "a.jpg", "caption": ""}\n', 'c.jsonl'), /c\.jsonl:1: image a\.jpg has no caption/);
});

test('vqa examples: records and easy-VQA', () => {
  const ev = parseVqaExamples('[["what color is the shape?", "red", 0], ["is there a circle?", "no", 12]]', 'questions.json');
  assert.equal(ev.format, 'easy-vqa');
  assert.deepEqual(ev.examples.map((e) => [e.image, e.question, e.answers]), [['0.png', 'what color is the shape?', ['red']], ['12.png', 'is there a circle?', ['no']]]);
  const rec = parseVqaExamples('{"image": "x.jpg", "question": "how many?", "answer": "two"}\n{"image": "y.jpg", "question": "what?", "answers": ["a", "b"]}\n', 'q.jsonl');
  assert.deepEqual(rec.examples.map((e) => e.answers), [['two'], ['a', 'b']]);
  assert.throws(() => parseVqaExamples('{"image": "x.jpg", "answer": "two"}\n', 'q.jsonl'), /q\.jsonl:1: expected "question"/);
  assert.throws(() => parseVqaExamples('[["q", "a"]]', 'questions.json'), /questions\.json:1 \(element 0\): expected easy-VQA/);
});

test('examples naming a missing image are refused, naming the line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'v2l-examples-'));
  try {
    mkdirSync(join(dir, 'images'));
    writeFileSync(join(dir, 'images', 'a.jpg'), 'x');
    writeFileSync(join(dir, 'caps.jsonl'), '{"image": "a.jpg", "caption": "one"}\n{"image": "gone.jpg", "caption": "two"}\n');
    const items = readCaptionItems(join(dir, 'caps.jsonl'));
    assert.equal(items[0]!.image, join(dir, 'images', 'a.jpg'));
    assert.throws(() => checkImages(items, 'in-context example(s)'), (e: Error) => e.message.includes(`caps.jsonl:2: ${join(dir, 'images', 'gone.jpg')}`));
    assert.throws(() => readCaptionItems(join(dir, 'none.json')), /cannot read captions file .*none\.json: ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const EASY = sharedPath('data/easy-vqa/easy_vqa/data/test/questions.json');
const COCO = sharedPath('data/coco-captions/captions.json');
test('the shared data reads: easy-VQA test questions and the 12 COCO images', { skip: skipUnless([EASY, COCO], 'easy-VQA and COCO captions') }, () => {
  const q = readVqaItems(EASY);
  assert.equal(q.format, 'easy-vqa');
  assert.equal(q.items.length, 9673);
  checkImages(q.items.slice(0, 50), 'question(s)');
  const c = readCaptionItems(COCO);
  assert.equal(c.length, 12);
  assert.ok(c.every((e) => e.captions.length === 5));
  checkImages(c, 'example(s)');
});

test('shots: seeded, distinct, eligible only; per-query seeds differ', () => {
  const a = drawIndices(100, 10, 5, (i) => i % 2 === 0);
  assert.deepEqual(a, drawIndices(100, 10, 5, (i) => i % 2 === 0));
  assert.equal(new Set(a).size, 10);
  assert.ok(a.every((i) => i % 2 === 0));
  assert.notDeepEqual(drawIndices(100, 10, querySeed(5, 0)), drawIndices(100, 10, querySeed(5, 1)));
  assert.throws(() => drawIndices(5, 10, 1), /10 in-context samples are needed but only 5 are eligible/);
});
