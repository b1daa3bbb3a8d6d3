// Split files, seeded sampling, class-name mappings, and the dataset layouts (Tiny-ImageNet from ../shared).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distinctEpisodesBound, formatSplit, parseClassNames, parseSplit, sampleEpisodes, splitShape } from './episodes.js';
import { checkImages, classNameOf, imagesRoot, loadClassNames, openDataset } from './dataset.js';
import { sharedPath, skipUnless } from '../../util/test-utils/shared.js';

const TINY = sharedPath('data/tiny-imagenet-val');
const skipTiny = skipUnless(join(TINY, 'val_annotations.txt'), 'Tiny-ImageNet val');

test('split files: the reference format read and written back unchanged; lines with equal supports group', () => {
  const text = 'a/1.jpg,b/1.jpg,a/2.jpg,\na/1.jpg,b/1.jpg,b/2.jpg,\nb/3.jpg,a/3.jpg,a/4.jpg,\n';
  const eps = parseSplit(text, '2_way_1_shot.csv', { ways: 2, shots: 1 });
  assert.equal(eps.length, 2);
  assert.deepEqual(eps[0]!.support.map((s) => s.field), ['a/1.jpg', 'b/1.jpg']);
  assert.deepEqual(eps[0]!.queries.map((q) => [q.field, q.unit, q.line]), [['a/2.jpg', 0, 1], ['b/2.jpg', 1, 2]]);
  assert.deepEqual(eps[1]!.queries.map((q) => q.unit), [2]);
  assert.equal(formatSplit(eps), text);
  assert.deepEqual(splitShape('/x/fewshot_split/5_way_3_shot.csv'), { ways: 5, shots: 3 });
  assert.equal(splitShape('episodes.csv'), null);
});

test('split files: bad lines are refused naming the file and line', () => {
  const shape = { ways: 2, shots: 1 };
  assert.throws(() => parseSplit('a/1,b/1,a/2,\na/1,b/1,\n', 's.csv', shape), /s\.csv:2: 2 images, a 2-way 1-shot episode has 2 support images and 1 query/);
  assert.throws(() => parseSplit('a/1,a/3,a/2,\n', 's.csv', shape), /s\.csv:1: the support has classes a x2/);
  assert.throws(() => parseSplit('a/1,b/1,c/2,\n', 's.csv', shape), /s\.csv:1: the query's class c is not in the support/);
  assert.throws(() => parseSplit('a/1,b1,a/2,\n', 's.csv', shape), /s\.csv:1: field "b1" is not wnid\/filename/);
  assert.throws(() => parseSplit('\n\n', 's.csv', shape), /no episodes/);
});

test('sampling: seeded and reproducible, N distinct classes K times, queries outside the support', () => {
  const classes = new Map(['c1', 'c2', 'c3', 'c4'].map((c) => [c, Array.from({ length: 6 }, (_, i) => `${c}/${i}.png`)]));
  const a = sampleEpisodes(classes, { ways: 3, shots: 2, episodes: 20, seed: 4, queriesPerEpisode: 2 });
  // the same seed gives the same episodes whatever the order the classes were listed in
  const shuffled = new Map([...classes].reverse().map(([k, v]) => [k, [...v].reverse()]));
  assert.equal(formatSplit(sampleEpisodes(shuffled, { ways: 3, shots: 2, episodes: 20, seed: 4, queriesPerEpisode: 2 })), formatSplit(a));
  assert.notEqual(formatSplit(sampleEpisodes(classes, { ways: 3, shots: 2, episodes: 20, seed: 5, queriesPerEpisode: 2 })), formatSplit(a));
  for (const e of a) {
    const counts = new Map<string, number>();
    for (const s of e.support) counts.set(s.wnid, (counts.get(s.wnid) ?? 0) + 1);
    assert.equal(counts.size, 3);
    assert.ok([...counts.values()].every((c) => c === 2));
    for (const q of e.queries) {
      assert.ok(counts.has(q.wnid));
      assert.ok(!e.support.some((s) => s.field === q.field));
    }
    assert.notEqual(e.queries[0]!.field, e.queries[1]!.field);
  }
  // written and read back: the same episodes (one line per query, supports repeated)
  const back = parseSplit(formatSplit(a), '3_way_2_shot.csv', { ways: 3, shots: 2 });
  assert.equal(formatSplit(back), formatSplit(a));
  assert.equal(back.length, 20);
});

test('sampling: a class with fewer than K+1 images is refused before anything is sampled, named', () => {
  const classes = new Map([['big', ['big/1', 'big/2', 'big/3']], ['small', ['small/1', 'small/2']]]);
  assert.throws(() => sampleEpisodes(classes, { ways: 2, shots: 2, episodes: 1, seed: 0 }), /fewer than K\+1 = 3 images: small \(2\)/);
  assert.throws(() => sampleEpisodes(classes, { ways: 3, shots: 1, episodes: 1, seed: 0 }), /3-way episodes need 3 classes; the dataset has 2/);
  assert.throws(() => sampleEpisodes(classes, { ways: 2, shots: 0, episodes: 1, seed: 0 }), /shots must be a positive integer/);
});

test('class names: JSON maps, Keras class index, wnid-name lines with WordNet synonyms', () => {
  assert.deepEqual([...parseClassNames('{"n1": "tench", "n2": "goldfish"}', 'x.json')], [['n1', 'tench'], ['n2', 'goldfish']]);
  assert.deepEqual([...parseClassNames('{"0": ["n01440764", "tench"], "1": ["n01443537", "goldfish"]}', 'k.json')], [['n01440764', 'tench'], ['n01443537', 'goldfish']]);
  assert.deepEqual([...parseClassNames('n01443537\tgoldfish, Carassius auratus\nn02124075 Egyptian cat\n', 'words.txt')], [['n01443537', 'goldfish'], ['n02124075', 'Egyptian cat']]);
  assert.throws(() => parseClassNames('n1 a\nlonely\n', 'names.txt'), /names\.txt:2: expected "wnid name"/);
  assert.throws(() => parseClassNames('{"n1": 3}', 'x.json'), /x\.json: entry "n1"/);
});

test('folder-per-class datasets, missing images and missing names are refused before any work', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'v2l-fs-ds-'));
  try {
    for (const c of ['cat', 'dog']) {
      mkdirSync(join(tmp, c));
      for (let i = 0; i < 3; i++) writeFileSync(join(tmp, c, `${i}.jpg`), 'x');
    }
    writeFileSync(join(tmp, 'cat', 'notes.txt'), 'not an image');
    const ds = openDataset(tmp);
    assert.equal(ds.layout, 'folders');
    assert.deepEqual(ds.classes.get('cat'), ['cat/0.jpg', 'cat/1.jpg', 'cat/2.jpg']);
    const eps = parseSplit('cat/0.jpg,dog/0.jpg,cat/9.jpg,\n', '2_way_1_shot.csv', { ways: 2, shots: 1 });
    assert.throws(() => checkImages(eps, imagesRoot(tmp).resolve, '2_way_1_shot.csv'), /cat\/9\.jpg \(2_way_1_shot\.csv:1;/);
    const { names, source } = loadClassNames(undefined, tmp);
    assert.equal(source, 'folder names');
    assert.equal(classNameOf(names, source, eps)('cat'), 'cat');
    assert.throws(() => classNameOf(new Map([['cat', 'tabby']]), 'n.json', eps), /n\.json has no name for 1 class\(es\) of the episodes: dog/);
    assert.throws(() => classNameOf(new Map([['cat', 'pet'], ['dog', 'pet']]), 'n.json', eps), /classes cat and dog are both named "pet"/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('Tiny-ImageNet val layout: classes from val_annotations.txt, names from words.txt', { skip: skipTiny }, () => {
  const ds = openDataset(TINY);
  assert.equal(ds.layout, 'tiny-imagenet');
  const wnids = readFileSync(join(TINY, 'wnids.txt'), 'utf8').split(/\r?\n/).filter((l) => l.trim());
  assert.deepEqual([...ds.classes.keys()].sort(), [...wnids].sort(), 'the classes of wnids.txt (200 in the original; CRLF lines read too)');
  assert.ok([...ds.classes.values()].every((v) => v.length === 50));
  const eps = sampleEpisodes(ds.classes, { ways: 5, shots: 5, episodes: 3, seed: 0 });
  checkImages(eps, ds.resolve, 'sampled');
  assert.match(ds.resolve(eps[0]!.support[0]!.field), /tiny-imagenet-val\/images\/val_\d+\.JPEG$/);
  const { names } = loadClassNames(undefined, TINY);
  assert.equal(names.get('n01443537'), 'goldfish');
  // a field whose class disagrees with the annotations is missing, not silently another class's image
  const [wnid, file] = eps[0]!.support[0]!.field.split('/');
  const other = [...ds.classes.keys()].find((w) => w !== wnid)!;
  assert.throws(() => checkImages(parseSplit(`${other}/${file},${wnid}/${file},${wnid}/${file},\n`, 's.csv', { ways: 2, shots: 1 }), ds.resolve, 's.csv'), /do not exist/);
});

test('sampling: counts checked before any draw (1 way, more episodes than the dataset has, more than a run holds)', () => {
  const classes = new Map([['a', ['a/1', 'a/2']], ['b', ['b/1', 'b/2']]]);
  assert.equal(distinctEpisodesBound([2, 2], 2, 1, 1), 8); // 2 x 2 support pairs x 2 queries
  assert.equal(sampleEpisodes(classes, { ways: 2, shots: 1, episodes: 8, seed: 0 }).length, 8);
  assert.throws(() => sampleEpisodes(classes, { ways: 2, shots: 1, episodes: 9, seed: 0 }), /at most 8 distinct 2-way 1-shot episodes .* 9 would repeat episodes/);
  assert.throws(() => sampleEpisodes(classes, { ways: 1, shots: 1, episodes: 1, seed: 0 }), /a 1-way episode has a single possible answer/);
  assert.throws(() => sampleEpisodes(classes, { ways: 2, shots: 1, episodes: 1e9, seed: 0 }), /1000000000 queries: more than the 1000000 one run holds/);
  assert.throws(() => parseSplit('a/1,a/2,\n', 's.csv', { ways: 1, shots: 1 }), /s\.csv: a 1-way episode/);
});
