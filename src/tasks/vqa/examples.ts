// VQA examples (in-context pool and queries with their answers). Portable: text in, image names out; the
// run resolves them against a folder and checks they exist.
//
// Accepted forms:
// - COCO-QA style records, as a JSON array or JSON lines: { "image", "question", "answer" | "answers" };
// - easy-VQA's questions.json: a JSON array of [question, answer, imageId]; image `<imageId>.png`, which the
//   run finds under `images/` beside the file (the layout of easy_vqa/data/{train,test}).
import { arrayElementLines, parseJsonInput } from '../json-input.js';

export interface VqaExample {
  image: string;
  question: string;
  /** Reference answers (one for COCO-QA and easy-VQA; VQA v2 gives ten). */
  answers: string[];
  where: string;
}

export type VqaFormat = 'records' | 'easy-vqa';

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function record(v: unknown, where: string): VqaExample {
  if (!isObj(v)) throw new Error(`${where}: expected { "image", "question", "answer" } (or easy-VQA's [question, answer, imageId])`);
  const image = v.image ?? v.file_name;
  if (typeof image !== 'string' || !image) throw new Error(`${where}: expected "image": "<file name>"`);
  if (typeof v.question !== 'string' || !v.question.trim()) throw new Error(`${where}: expected "question": "<text>"`);
  const answers = v.answers ?? (v.answer !== undefined ? [v.answer] : []);
  if (!Array.isArray(answers) || answers.some((a) => typeof a !== 'string')) throw new Error(`${where}: "answer" must be a string ("answers" a list of strings)`);
  return { image, question: v.question.trim(), answers: answers as string[], where };
}

export function parseVqaExamples(text: string, file: string): { format: VqaFormat; examples: VqaExample[] } {
  const input = parseJsonInput(text, file);
  let format: VqaFormat = 'records';
  let examples: VqaExample[];
  if (input.kind === 'lines') {
    examples = input.rows.map((r) => record(r.value, `${file}:${r.line}`));
  } else if (Array.isArray(input.value)) {
    const lines = arrayElementLines(text);
    const where = (i: number) => `${file}:${lines[i] ?? '?'} (element ${i})`;
    if (input.value.length && Array.isArray(input.value[0])) {
      format = 'easy-vqa';
      examples = input.value.map((v, i) => {
        if (!Array.isArray(v) || v.length !== 3 || typeof v[0] !== 'string' || typeof v[1] !== 'string' || (typeof v[2] !== 'number' && typeof v[2] !== 'string')) {
          throw new Error(`${where(i)}: expected easy-VQA's [question, answer, imageId]`);
        }
        return { image: `${v[2]}.png`, question: v[0].trim(), answers: [v[1]], where: where(i) };
      });
    } else {
      examples = input.value.map((v, i) => record(v, where(i)));
    }
  } else {
    throw new Error(`${file}: not a VQA file: expected a JSON array or JSON lines of { "image", "question", "answer" }, or easy-VQA's questions.json`);
  }
  if (!examples.length) throw new Error(`${file}: no questions`);
  return { format, examples };
}
