// Caption metrics as coco-caption (pycocoevalcap) computes them: BLEU-1..4 (bleu_scorer.py: corpus-level
// clipped n-gram counts, the "closest" reference length, its 1e-15 / 1e-9 smoothing) and CIDEr-D
// (cider_scorer.py: tf-idf n-gram vectors with document frequencies from the evaluated set's references,
// clipped matches, Gaussian length penalty σ 6, ×10). Portable: plain TypeScript.
//
// Tokenisation: coco-caption runs Stanford's Java PTBTokenizer (-lowerCase) and drops punctuation tokens.
// `ptbTokenize` approximates it without Java: lower case; punctuation split off word edges; the PTB
// clitics ('s 're 've 'll 'd 'm n't) split off; punctuation tokens dropped. It differs from the Java
// tokenizer on rarer cases: abbreviations with inner periods keep them ("u.s." stays one token, as PTB
// does, but "etc." loses its final period where PTB keeps it), "cannot"/"gonna" are not split
// (PTB: "can not", "gon na"), quotes are dropped rather than rewritten as `` ''. Captions are short plain
// sentences, where both give the same tokens.

const PUNCT_TOKENS = new Set(["''", "'", '``', '`', '-LRB-', '-RRB-', '-LCB-', '-RCB-', '.', '?', '!', ',', ':', '-', '--', '...', ';']);
const EDGE = /^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu;
const CLITIC = /^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$/;

/** Lower-cased PTB-style tokens without punctuation, joined by single spaces (coco-caption's tokenizer output). */
export function ptbTokenize(text: string): string {
  const out: string[] = [];
  for (const raw of text.toLowerCase().replace(/[\u2018\u2019]/g, "'").split(/\s+/)) {
    if (!raw) continue;
    // Punctuation at the edges becomes separate (dropped) tokens; inner marks (t-shirt, u.s., 3.5) stay.
    const core = raw.replace(EDGE, '');
    if (!core) continue;
    const m = CLITIC.exec(core);
    if (m) out.push(m[1], m[2]);
    else out.push(core);
  }
  return out.filter((t) => !PUNCT_TOKENS.has(t)).join(' ');
}

type Counts = Map<string, number>;

/** n-gram counts for n = 1..maxN of a whitespace-tokenised sentence (precook). */
function ngrams(sentence: string, maxN: number): Counts {
  const words = sentence.split(/\s+/).filter((w) => w !== '');
  const c: Counts = new Map();
  for (let k = 1; k <= maxN; k++) {
    for (let i = 0; i + k <= words.length; i++) {
      const g = words.slice(i, i + k).join(' ');
      c.set(g, (c.get(g) ?? 0) + 1);
    }
  }
  return c;
}
const order = (g: string): number => g.split(' ').length;

/** One image's candidate and references (already tokenised, or pass `tokenize: true`). */
export interface CaptionSample {
  candidate: string;
  references: readonly string[];
}

export interface BleuResult {
  /** Corpus BLEU-1..4. */
  bleu: [number, number, number, number];
  /** Per-sample BLEU-1..4 (bleu_scorer's per-sentence values). */
  perSample: number[][];
  testLength: number;
  refLength: number;
}

const TINY = 1e-15;
const SMALL = 1e-9;

/** coco-caption BLEU (option "closest"). */
export function bleu(samples: readonly CaptionSample[], maxN = 4): BleuResult {
  if (!samples.length) throw new Error('bleu: no samples');
  const guess = new Array<number>(maxN).fill(0);
  const correct = new Array<number>(maxN).fill(0);
  let testLength = 0;
  let refLength = 0;
  const perSample: number[][] = [];
  for (const s of samples) {
    if (!s.references.length) throw new Error('bleu: a sample has no references');
    const testLen = s.candidate.split(/\s+/).filter((w) => w).length;
    const maxRef = new Map<string, number>();
    const refLens: number[] = [];
    for (const r of s.references) {
      refLens.push(r.split(/\s+/).filter((w) => w).length);
      for (const [g, c] of ngrams(r, maxN)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, c));
    }
    // "closest": the reference length nearest the candidate's, the shorter one on a tie.
    let refLen = refLens[0];
    for (const l of refLens) if (Math.abs(l - testLen) < Math.abs(refLen - testLen) || (Math.abs(l - testLen) === Math.abs(refLen - testLen) && l < refLen)) refLen = l;
    const g = Array.from({ length: maxN }, (_, k) => Math.max(0, testLen - k));
    const cor = new Array<number>(maxN).fill(0);
    for (const [gram, c] of ngrams(s.candidate, maxN)) cor[order(gram) - 1] += Math.min(maxRef.get(gram) ?? 0, c);
    perSample.push(bleuFrom(cor, g, testLen, refLen, maxN));
    for (let k = 0; k < maxN; k++) {
      guess[k] += g[k];
      correct[k] += cor[k];
    }
    testLength += testLen;
    refLength += refLen;
  }
  const b = bleuFrom(correct, guess, testLength, refLength, maxN);
  return { bleu: b as BleuResult['bleu'], perSample, testLength, refLength };
}

function bleuFrom(correct: number[], guess: number[], testLen: number, refLen: number, maxN: number): number[] {
  const out: number[] = [];
  let p = 1;
  for (let k = 0; k < maxN; k++) {
    p *= (correct[k] + TINY) / (guess[k] + SMALL);
    out.push(p ** (1 / (k + 1)));
  }
  const ratio = (testLen + TINY) / (refLen + SMALL);
  if (ratio < 1) for (let k = 0; k < maxN; k++) out[k] *= Math.exp(1 - 1 / ratio);
  return out;
}

export interface CiderResult {
  /** Mean CIDEr-D over the samples. */
  cider: number;
  perSample: number[];
}

/** coco-caption CIDEr-D (n 4, σ 6); document frequencies from this set's references. */
export function ciderD(samples: readonly CaptionSample[], opts: { n?: number; sigma?: number } = {}): CiderResult {
  const n = opts.n ?? 4;
  const sigma = opts.sigma ?? 6;
  if (!samples.length) throw new Error('ciderD: no samples');
  const refs = samples.map((s) => s.references.map((r) => ngrams(r, n)));
  const df = new Map<string, number>();
  for (const rs of refs) {
    const seen = new Set<string>();
    for (const r of rs) for (const g of r.keys()) seen.add(g);
    for (const g of seen) df.set(g, (df.get(g) ?? 0) + 1);
  }
  const refLen = Math.log(samples.length);
  const toVec = (cnts: Counts) => {
    const vec = Array.from({ length: n }, () => new Map<string, number>());
    const norm = new Array<number>(n).fill(0);
    let length = 0;
    for (const [g, tf] of cnts) {
      const k = order(g) - 1;
      const v = tf * (refLen - Math.log(Math.max(1, df.get(g) ?? 0)));
      vec[k].set(g, v);
      norm[k] += v * v;
      // cider_scorer.py counts `length` at n == 1, i.e. the number of bigrams; kept for exactness.
      if (k === 1) length += tf;
    }
    return { vec, norm: norm.map(Math.sqrt), length };
  };
  const perSample = samples.map((s, i) => {
    if (!s.references.length) throw new Error('ciderD: a sample has no references');
    const hyp = toVec(ngrams(s.candidate, n));
    const score = new Array<number>(n).fill(0);
    for (const rc of refs[i]) {
      const ref = toVec(rc);
      const delta = hyp.length - ref.length;
      for (let k = 0; k < n; k++) {
        let val = 0;
        for (const [g, v] of hyp.vec[k]) {
          const r = ref.vec[k].get(g) ?? 0;
          val += Math.min(v, r) * r;
        }
        if (hyp.norm[k] !== 0 && ref.norm[k] !== 0) val /= hyp.norm[k] * ref.norm[k];
        score[k] += val * Math.exp(-(delta * delta) / (2 * sigma * sigma));
      }
    }
    return ((score.reduce((a, b) => a + b, 0) / n) / refs[i].length) * 10;
  });
  return { cider: perSample.reduce((a, b) => a + b, 0) / perSample.length, perSample };
}

/** Tokenises candidates and references with `ptbTokenize`, as coco-caption does before scoring. */
export function tokenizeSamples(samples: readonly CaptionSample[]): CaptionSample[] {
  return samples.map((s) => ({ candidate: ptbTokenize(s.candidate), references: s.references.map(ptbTokenize) }));
}

/** BLEU-4 and CIDEr-D of raw captions (tokenised first). */
export function captionScores(samples: readonly CaptionSample[]): { bleu4: number; cider: number; bleu: BleuResult['bleu'] } {
  const tok = tokenizeSamples(samples);
  const b = bleu(tok);
  return { bleu4: b.bleu[3], bleu: b.bleu, cider: ciderD(tok).cider };
}
