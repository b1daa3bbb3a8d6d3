// VQA accuracy as the official VQA evaluation (vqaEval.py, Antol et al. 2015 / VQA v2) computes it:
// answers normalised (punctuation, number words, articles, contractions), then, with ten human answers,
// acc = mean over the ten leave-one-out subsets of min(1, #matches among the other nine / 3).
// With a single ground-truth answer (COCO-QA, easy-VQA) the leave-one-out rule would always give 0, so
// accuracy is exact match after normalising both sides (COCO-QA's accuracy). Portable: plain TypeScript.

const CONTRACTIONS: Record<string, string> = {
  aint: "ain't", arent: "aren't", cant: "can't", couldve: "could've", couldnt: "couldn't", "couldn'tve": "couldn't've",
  "couldnt've": "couldn't've", didnt: "didn't", doesnt: "doesn't", dont: "don't", hadnt: "hadn't", "hadnt've": "hadn't've",
  "hadn'tve": "hadn't've", hasnt: "hasn't", havent: "haven't", hed: "he'd", "hed've": "he'd've", "he'dve": "he'd've",
  hes: "he's", howd: "how'd", howll: "how'll", hows: "how's", "Id've": "I'd've", "I'dve": "I'd've", Im: "I'm", Ive: "I've",
  isnt: "isn't", itd: "it'd", "itd've": "it'd've", "it'dve": "it'd've", itll: "it'll", "let's": "let's", maam: "ma'am",
  mightnt: "mightn't", "mightnt've": "mightn't've", "mightn'tve": "mightn't've", mightve: "might've", mustnt: "mustn't",
  mustve: "must've", neednt: "needn't", notve: "not've", oclock: "o'clock", oughtnt: "oughtn't", "ow's'at": "'ow's'at",
  "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", shant: "shan't", "shed've": "she'd've", "she'dve": "she'd've",
  "she's": "she's", shouldve: "should've", shouldnt: "shouldn't", "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've",
  "somebody'd": 'somebodyd', "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", somebodyll: "somebody'll",
  somebodys: "somebody's", someoned: "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
  someonell: "someone'll", someones: "someone's", somethingd: "something'd", "somethingd've": "something'd've",
  "something'dve": "something'd've", somethingll: "something'll", thats: "that's", thered: "there'd", "thered've": "there'd've",
  "there'dve": "there'd've", therere: "there're", theres: "there's", theyd: "they'd", "theyd've": "they'd've",
  "they'dve": "they'd've", theyll: "they'll", theyre: "they're", theyve: "they've", twas: "'twas", wasnt: "wasn't",
  "wed've": "we'd've", "we'dve": "we'd've", weve: "we've", werent: "weren't", whatll: "what'll", whatre: "what're",
  whats: "what's", whatve: "what've", whens: "when's", whered: "where'd", wheres: "where's", whereve: "where've",
  whod: "who'd", "whod've": "who'd've", "who'dve": "who'd've", wholl: "who'll", whos: "who's", whove: "who've",
  whyll: "why'll", whyre: "why're", whys: "why's", wont: "won't", wouldve: "would've", wouldnt: "wouldn't",
  "wouldnt've": "wouldn't've", "wouldn'tve": "wouldn't've", yall: "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
  "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", youd: "you'd", "youd've": "you'd've",
  "you'dve": "you'd've", youll: "you'll", youre: "you're", youve: "you've",
};
const NUMBER_WORDS: Record<string, string> = {
  none: '0', zero: '0', one: '1', two: '2', three: '3', four: '4', five: '5', six: '6', seven: '7', eight: '8', nine: '9', ten: '10',
};
const ARTICLES = new Set(['a', 'an', 'the']);
const PUNCT = [';', '/', '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_', '-', '>', '<', '@', '`', ',', '?', '!'];
const COMMA_STRIP = /(\d)(,)(\d)/;

/** vqaEval.processPunctuation. */
export function processPunctuation(text: string): string {
  let out = text;
  for (const p of PUNCT) {
    // As the official code: a mark next to a space (or any "d,d" in the text) is deleted, else spaced out.
    if (text.includes(p + ' ') || text.includes(' ' + p) || COMMA_STRIP.test(text)) out = out.split(p).join('');
    else out = out.split(p).join(' ');
  }
  // periodStrip "(?!<=\d)(\.)(?!\d)": a period not followed by a digit. The official call passes
  // re.UNICODE (32) as sub()'s count, so at most 32 are removed; kept for exactness.
  let removed = 0;
  return out.replace(/(?!<=\d)(\.)(?!\d)/g, (m) => (removed++ < 32 ? '' : m));
}

/** vqaEval.processDigitArticle: lower case, number words to digits, articles dropped, contractions fixed. */
export function processDigitArticle(text: string): string {
  const words = text.toLowerCase().split(/\s+/).filter((w) => w !== '')
    .map((w) => NUMBER_WORDS[w] ?? w)
    .filter((w) => !ARTICLES.has(w));
  return words.map((w) => CONTRACTIONS[w] ?? w).join(' ');
}

/** The official normalisation of a predicted answer (newlines/tabs to spaces, trim, punctuation, digits/articles). */
export function normalizeAnswer(answer: string): string {
  return processDigitArticle(processPunctuation(answer.replace(/[\n\t]/g, ' ').trim()));
}

/**
 * Accuracy of one prediction against the ground-truth answers of its question, in [0, 1].
 * - one answer: exact match after normalising both (COCO-QA / easy-VQA);
 * - several (VQA's ten): the official leave-one-out min(1, matches / 3), averaged; as in vqaEval.py the
 *   ground-truth answers only get the punctuation step, and only when they are not all equal.
 */
export function vqaAccuracy(prediction: string, answers: readonly string[]): number {
  if (!answers.length) throw new Error('vqaAccuracy: a question needs at least one ground-truth answer');
  const pred = normalizeAnswer(prediction);
  if (answers.length === 1) return pred === normalizeAnswer(answers[0]) ? 1 : 0;
  const gts = new Set(answers).size > 1 ? answers.map(processPunctuation) : [...answers];
  let total = 0;
  for (let i = 0; i < gts.length; i++) {
    let matches = 0;
    for (let j = 0; j < gts.length; j++) if (j !== i && gts[j] === pred) matches++;
    total += Math.min(1, matches / 3);
  }
  return total / gts.length;
}

/** Mean accuracy over questions (`answers[i]` belongs to `predictions[i]`). */
export function meanVqaAccuracy(predictions: readonly string[], answers: readonly (readonly string[])[]): number {
  if (predictions.length !== answers.length) throw new Error(`meanVqaAccuracy: ${predictions.length} predictions for ${answers.length} questions`);
  if (!predictions.length) return NaN;
  let s = 0;
  predictions.forEach((p, i) => (s += vqaAccuracy(p, answers[i])));
  return s / predictions.length;
}
