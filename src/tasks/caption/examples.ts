// Captioning examples (in-context pool and queries with their references). Portable: text in, image names
// out; the run resolves them against a folder and checks they exist.
//
// Accepted forms:
// - COCO captions JSON: { "images": [{ "id", "file_name" }], "annotations": [{ "image_id", "caption" }] }
//   (captions_train2014.json and the like): one example per image, its captions in annotation order;
// - a list [{ "image": "x.jpg", "captions": ["...", ...] }] (../shared/data/coco-captions/captions.json);
// - JSON lines, one { "image", "caption" | "captions" } per line (lines of one image are merged).
import { arrayElementLines, parseJsonInput } from '../json-input.js';

export interface CaptionExample {
  /** The image as the file names it (relative to the image folder unless absolute). */
  image: string;
  captions: string[];
  /** Where the example is defined, for errors: "file:line". */
  where: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function captionsOf(v: Record<string, unknown>, where: string): string[] {
  const list = v.captions ?? (v.caption !== undefined ? [v.caption] : undefined);
  if (!Array.isArray(list) || list.some((c) => typeof c !== 'string')) throw new Error(`${where}: expected "captions": [strings] or "caption": string`);
  return list as string[];
}

function imageOf(v: Record<string, unknown>, where: string): string {
  const img = v.image ?? v.file_name ?? v.file;
  if (typeof img !== 'string' || img === '') throw new Error(`${where}: expected "image": "<file name>"`);
  return img;
}

export function parseCaptionExamples(text: string, file: string): CaptionExample[] {
  const input = parseJsonInput(text, file);
  const out: CaptionExample[] = [];
  const byImage = new Map<string, CaptionExample>();
  const add = (image: string, captions: string[], where: string) => {
    const e = byImage.get(image);
    if (e) e.captions.push(...captions);
    else {
      const ex = { image, captions: [...captions], where };
      byImage.set(image, ex);
      out.push(ex);
    }
  };
  if (input.kind === 'lines') {
    for (const r of input.rows) {
      const where = `${file}:${r.line}`;
      if (!isObj(r.value)) throw new Error(`${where}: expected an object { "image", "caption" | "captions" }`);
      add(imageOf(r.value, where), captionsOf(r.value, where), where);
    }
  } else if (isObj(input.value) && Array.isArray(input.value.images) && Array.isArray(input.value.annotations)) {
    // COCO: positions in the document are not tracked per element; name the array and index.
    const names = new Map<number | string, string>();
    input.value.images.forEach((im, i) => {
      if (!isObj(im) || (typeof im.id !== 'number' && typeof im.id !== 'string') || typeof im.file_name !== 'string') {
        throw new Error(`${file}: images[${i}] needs "id" and "file_name"`);
      }
      names.set(im.id, im.file_name);
    });
    for (const [id, name] of names) add(name, [], `${file}: image id ${id}`);
    input.value.annotations.forEach((a, i) => {
      if (!isObj(a) || typeof a.caption !== 'string') throw new Error(`${file}: annotations[${i}] needs "image_id" and "caption"`);
      const name = names.get(a.image_id as number);
      if (name === undefined) throw new Error(`${file}: annotations[${i}] names image_id ${JSON.stringify(a.image_id)}, which is not in "images"`);
      byImage.get(name)!.captions.push(a.caption);
    });
  } else if (Array.isArray(input.value)) {
    const lines = arrayElementLines(text);
    input.value.forEach((v, i) => {
      const where = `${file}:${lines[i] ?? '?'} (element ${i})`;
      if (!isObj(v)) throw new Error(`${where}: expected an object { "image", "captions" }`);
      add(imageOf(v, where), captionsOf(v, where), where);
    });
  } else {
    throw new Error(`${file}: not a captions file: expected COCO captions JSON ("images" and "annotations"), a list of { "image", "captions" }, or JSON lines`);
  }
  for (const e of out) {
    e.captions = e.captions.map((c) => c.trim()).filter((c) => c !== '');
    if (!e.captions.length) throw new Error(`${e.where}: image ${e.image} has no caption`);
  }
  if (!out.length) throw new Error(`${file}: no examples`);
  return out;
}
