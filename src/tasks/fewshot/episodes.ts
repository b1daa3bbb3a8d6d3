// N-way K-shot episodes: the reference's split files (read and written) and seeded sampling from a
// dataset's classes. Portable: text in, text out.
//
// Split file format (eval_understanding.py:61-70, tasks-spec.md §1): `{N}_way_{K}_shot.csv`, one episode per
// line, fields `wnid/filename` separated by ",", each line ending with "," (the reference drops the last
// field); the first N*K fields are the support in prompt order, the last is the query.
//
// Several queries may share one support block (`queriesPerEpisode`): the file then holds one line per
// query, consecutive lines repeating the same support, which is still the reference's format; reading
// groups consecutive lines with equal supports into one episode (their prompts share a prefix).

import { SeededRng } from '../../util/random.js';

export interface EpisodeImage {
  /** `wnid/filename`, as in the split file. */
  field: string;
  wnid: string;
}

export interface EpisodeQuery extends EpisodeImage {
  /** 0-based index of this query over the whole run (= line index in a split file): the record key. */
  unit: number;
  /** 1-based line in the split file, when read from one. */
  line?: number;
}

export interface Episode {
  /** 0-based episode index (a group of queries sharing one support block). */
  index: number;
  support: EpisodeImage[];
  queries: EpisodeQuery[];
}

function image(field: string, where: string): EpisodeImage {
  const slash = field.indexOf('/');
  if (slash <= 0 || slash === field.length - 1) throw new Error(`${where}: field "${field}" is not wnid/filename`);
  return { field, wnid: field.slice(0, slash) };
}

/** N and K from a split file name (`5_way_1_shot.csv`), or null. */
export function splitShape(fileName: string): { ways: number; shots: number } | null {
  const m = /(\d+)_way_(\d+)_shot\.csv$/i.exec(fileName);
  return m ? { ways: Number(m[1]), shots: Number(m[2]) } : null;
}

/**
 * Parses a split file. Each line must hold N*K support fields and one query, the support must have N
 * classes K times each, and the query's class must be one of them; errors name the file and line.
 */
export function parseSplit(text: string, name: string, shape: { ways: number; shots: number }): Episode[] {
  const { ways, shots } = shape;
  checkWays(ways, name);
  const episodes: Episode[] = [];
  let unit = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const where = `${name}:${i + 1}`;
    if (raw.trim() === '') return;
    const fields = raw.split(',').map((f) => f.trim());
    // Lines end with ","; the reference drops the last field (U:63). A line without it is taken whole.
    if (fields[fields.length - 1] === '') fields.pop();
    if (fields.length !== ways * shots + 1) {
      throw new Error(`${where}: ${fields.length} images, a ${ways}-way ${shots}-shot episode has ${ways * shots} support images and 1 query`);
    }
    const imgs = fields.map((f) => image(f, where));
    const support = imgs.slice(0, -1);
    const query = imgs[imgs.length - 1]!;
    const counts = new Map<string, number>();
    for (const s of support) counts.set(s.wnid, (counts.get(s.wnid) ?? 0) + 1);
    if (counts.size !== ways || [...counts.values()].some((c) => c !== shots)) {
      throw new Error(`${where}: the support has classes ${[...counts].map(([w, c]) => `${w} x${c}`).join(', ')}; a ${ways}-way ${shots}-shot episode has ${ways} classes ${shots} times each`);
    }
    if (!counts.has(query.wnid)) throw new Error(`${where}: the query's class ${query.wnid} is not in the support`);
    const q: EpisodeQuery = { ...query, unit: unit++, line: i + 1 };
    const prev = episodes[episodes.length - 1];
    if (prev && prev.support.length === support.length && prev.support.every((s, j) => s.field === support[j]!.field)) prev.queries.push(q);
    else episodes.push({ index: episodes.length, support, queries: [q] });
  });
  if (episodes.length === 0) throw new Error(`${name}: no episodes`);
  return episodes;
}

/** The reference's format: one line per query, support fields then the query, each followed by ",". */
export function formatSplit(episodes: readonly Episode[]): string {
  return episodes.flatMap((e) => e.queries.map((q) => [...e.support, q].map((x) => x.field + ',').join(''))).join('\n') + '\n';
}

/** Uniform draws from the project's seeded generator: the same seed gives the same episodes on every platform. */
export function seededRandom(seed: number): () => number {
  const rng = new SeededRng(seed);
  return () => rng.uniform();
}

function shuffled<T>(xs: readonly T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export interface SampleOptions {
  ways: number;
  shots: number;
  episodes: number;
  seed: number;
  queriesPerEpisode?: number;
}

/**
 * Seeded episodes from classes (wnid -> `wnid/filename` fields, in any order: both are sorted first, so
 * the result depends only on the contents and the seed). Per episode: N distinct classes, K support
 * images each, the support in random order, then Q queries of random classes among the N, each an image
 * of that class not in the support (and not an earlier query). Every class needs K+1 images: refused,
 * naming the classes, before anything is sampled.
 */
/** The most queries one run takes (episodes are drawn up front: about 1 KB of memory each). */
export const MAX_QUERIES = 1_000_000;

/** C(n, k), capped at `cap` (only whether it exceeds a count matters). */
function binomial(n: number, k: number, cap: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) {
    r = (r * (n - k + i)) / i;
    if (r > cap) return cap;
  }
  return Math.round(r);
}

/**
 * An upper bound on the distinct episodes a dataset allows: class sets x support sets (each class's at
 * the largest class's count) x query choices. More episodes than this must repeat some.
 */
export function distinctEpisodesBound(sizes: readonly number[], ways: number, shots: number, queries: number): number {
  const cap = 1e15;
  const largest = Math.max(...sizes);
  let bound = binomial(sizes.length, ways, cap);
  for (let i = 0; i < ways && bound < cap; i++) bound = Math.min(cap, bound * binomial(largest, shots, cap));
  for (let j = 0; j < queries && bound < cap; j++) bound = Math.min(cap, bound * ways * Math.max(1, largest - shots));
  return bound;
}

/** One class has one possible answer: accuracy 1.0 by construction, with an interval that means nothing. */
function checkWays(ways: number, where: string): void {
  if (ways < 2) throw new Error(`${where}: a ${ways}-way episode has a single possible answer, so its accuracy is 1.0 by construction; use 2 ways or more`);
}

export function sampleEpisodes(classes: ReadonlyMap<string, readonly string[]>, o: SampleOptions): Episode[] {
  const q = o.queriesPerEpisode ?? 1;
  for (const [k, v] of Object.entries({ ways: o.ways, shots: o.shots, episodes: o.episodes, 'queries per episode': q })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${k} must be a positive integer (got ${v})`);
  }
  checkWays(o.ways, '--ways');
  const queries = o.episodes * q;
  if (queries > MAX_QUERIES) {
    throw new Error(`${o.episodes} episodes x ${q} quer${q > 1 ? 'ies' : 'y'} = ${queries} queries: more than the ${MAX_QUERIES} one run holds (its episodes are drawn before any work); run several seeds (--seed) of at most ${MAX_QUERIES / q} episodes each`);
  }
  const wnids = [...classes.keys()].sort();
  const small = wnids.filter((w) => classes.get(w)!.length < o.shots + 1);
  if (small.length) {
    throw new Error(`${small.length} class(es) have fewer than K+1 = ${o.shots + 1} images: ${small.slice(0, 5).map((w) => `${w} (${classes.get(w)!.length})`).join(', ')}${small.length > 5 ? ', ...' : ''}`);
  }
  if (wnids.length < o.ways) throw new Error(`${o.ways}-way episodes need ${o.ways} classes; the dataset has ${wnids.length}`);
  const distinct = distinctEpisodesBound(wnids.map((w) => classes.get(w)!.length), o.ways, o.shots, q);
  if (o.episodes > distinct) {
    throw new Error(`the dataset allows at most ${distinct} distinct ${o.ways}-way ${o.shots}-shot episodes (${wnids.length} classes of at most ${Math.max(...wnids.map((w) => classes.get(w)!.length))} images); ${o.episodes} would repeat episodes and count them as independent: lower --episodes`);
  }
  const files = new Map(wnids.map((w) => [w, [...classes.get(w)!].sort()]));
  const rand = seededRandom(o.seed);
  const out: Episode[] = [];
  let unit = 0;
  for (let e = 0; e < o.episodes; e++) {
    const chosen = shuffled(wnids, rand).slice(0, o.ways);
    const left = new Map<string, string[]>();
    const support: EpisodeImage[] = [];
    for (const w of chosen) {
      const order = shuffled(files.get(w)!, rand);
      support.push(...order.slice(0, o.shots).map((field) => ({ field, wnid: w })));
      left.set(w, order.slice(o.shots));
    }
    const queries: EpisodeQuery[] = [];
    for (let j = 0; j < q; j++) {
      const open = chosen.filter((w) => left.get(w)!.length > 0);
      if (!open.length) throw new Error(`episode ${e}: the ${o.ways} classes have no image left for query ${j + 1} of ${q}; lower --queries-per-episode`);
      const w = open[Math.floor(rand() * open.length)]!;
      queries.push({ field: left.get(w)!.shift()!, wnid: w, unit: unit++ });
    }
    out.push({ index: e, support: shuffled(support, rand), queries });
  }
  return out;
}

/**
 * A wnid -> name mapping from text: JSON (`{"n01440764": "tench"}` or Keras' `imagenet_class_index.json`,
 * `{"0": ["n01440764", "tench"]}`), or lines `wnid name` (tab or spaces). A name listing WordNet synonyms
 * ("goldfish, Carassius auratus", as Tiny-ImageNet's words.txt) keeps the first. Errors name the line.
 */
export function parseClassNames(text: string, name: string): Map<string, string> {
  const out = new Map<string, string>();
  const t = text.trim();
  if (t.startsWith('{')) {
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(t) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${name}: not valid JSON (${(e as Error).message})`);
    }
    for (const [k, v] of Object.entries(obj)) {
      if (typeof v === 'string') out.set(k, v);
      else if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') out.set(v[0], v[1]);
      else throw new Error(`${name}: entry "${k}" is neither a name nor [wnid, name]`);
    }
    return out;
  }
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const m = /^\s*(\S+)\s+(.+?)\s*$/.exec(line);
    if (!m) throw new Error(`${name}:${i + 1}: expected "wnid name", got ${JSON.stringify(line)}`);
    out.set(m[1]!, m[2]!.split(', ')[0]!);
  });
  return out;
}
