// The ImageNet prompt ensemble of CLIP (the 80 templates of openai/CLIP's notebook
// "Prompt_Engineering_for_ImageNet"), and the ensembling rule the V2L reference applies when it embeds
// the expanded vocabulary: L2-normalise each template's text embedding, then average, without
// re-normalising the mean. Portable: it only needs a ClipModel.
import type { ClipModel } from './types.js';
import type { OnProgress } from '../../util/progress.js';

/** The 80 ImageNet templates, in the notebook's order; `{}` is replaced by the class text. */
export const IMAGENET_TEMPLATES: readonly string[] = Object.freeze([
  'a bad photo of a {}.',
  'a photo of many {}.',
  'a sculpture of a {}.',
  'a photo of the hard to see {}.',
  'a low resolution photo of the {}.',
  'a rendering of a {}.',
  'graffiti of a {}.',
  'a bad photo of the {}.',
  'a cropped photo of the {}.',
  'a tattoo of a {}.',
  'the embroidered {}.',
  'a photo of a hard to see {}.',
  'a bright photo of a {}.',
  'a photo of a clean {}.',
  'a photo of a dirty {}.',
  'a dark photo of the {}.',
  'a drawing of a {}.',
  'a photo of my {}.',
  'the plastic {}.',
  'a photo of the cool {}.',
  'a close-up photo of a {}.',
  'a black and white photo of the {}.',
  'a painting of the {}.',
  'a painting of a {}.',
  'a pixelated photo of the {}.',
  'a sculpture of the {}.',
  'a bright photo of the {}.',
  'a cropped photo of a {}.',
  'a plastic {}.',
  'a photo of the dirty {}.',
  'a jpeg corrupted photo of a {}.',
  'a blurry photo of the {}.',
  'a photo of the {}.',
  'a good photo of the {}.',
  'a rendering of the {}.',
  'a {} in a video game.',
  'a photo of one {}.',
  'a doodle of a {}.',
  'a close-up photo of the {}.',
  'a photo of a {}.',
  'the origami {}.',
  'the {} in a video game.',
  'a sketch of a {}.',
  'a doodle of the {}.',
  'a origami {}.',
  'a low resolution photo of a {}.',
  'the toy {}.',
  'a rendition of the {}.',
  'a photo of the clean {}.',
  'a photo of a large {}.',
  'a rendition of a {}.',
  'a photo of a nice {}.',
  'a photo of a weird {}.',
  'a blurry photo of a {}.',
  'a cartoon {}.',
  'art of a {}.',
  'a sketch of the {}.',
  'a embroidered {}.',
  'a pixelated photo of a {}.',
  'itap of the {}.',
  'a jpeg corrupted photo of the {}.',
  'a good photo of a {}.',
  'a plushie {}.',
  'a photo of the nice {}.',
  'a photo of the small {}.',
  'a photo of the weird {}.',
  'the cartoon {}.',
  'art of the {}.',
  'a drawing of the {}.',
  'a photo of the large {}.',
  'a black and white photo of a {}.',
  'the plushie {}.',
  'a dark photo of a {}.',
  'itap of a {}.',
  'graffiti of the {}.',
  'a toy {}.',
  'itap of my {}.',
  'a photo of a cool {}.',
  'a photo of a small {}.',
  'a tattoo of the {}.',
]);

/** Fills one template. Python's `str.format` replaces `{}`; only the first occurrence exists here. */
export function fillTemplate(template: string, text: string): string {
  const at = template.indexOf('{}');
  if (at < 0) throw new Error(`template "${template}" has no "{}" placeholder`);
  return template.slice(0, at) + text + template.slice(at + 2);
}

export interface EnsembleOptions {
  /** Prompts per embedTexts call (default 256). */
  batchSize?: number;
  onProgress?: OnProgress;
}

/**
 * Per text: the mean over templates of the L2-normalised text embedding of the filled template.
 * The mean is NOT re-normalised (as in the reference), so its norm is below 1. [texts.length, dim].
 * Prompts of all texts are batched together, so many short texts cost few model calls.
 */
export async function embedWithTemplates(
  clip: ClipModel,
  texts: readonly string[],
  templates: readonly string[] = IMAGENET_TEMPLATES,
  opts: EnsembleOptions = {},
): Promise<Float32Array> {
  if (templates.length === 0) throw new Error('embedWithTemplates: no templates given');
  const batchSize = Math.max(1, opts.batchSize ?? 256);
  const dim = clip.dim;
  const T = templates.length;
  const total = texts.length * T;
  const out = new Float32Array(texts.length * dim);
  const inv = 1 / T;
  for (let start = 0; start < total; start += batchSize) {
    const end = Math.min(total, start + batchSize);
    const prompts: string[] = [];
    for (let p = start; p < end; p++) prompts.push(fillTemplate(templates[p % T], texts[Math.floor(p / T)]));
    const emb = await clip.embedTexts(prompts);
    for (let p = start; p < end; p++) {
      const row = (p - start) * dim;
      // embedTexts already normalises; normalise again anyway so that the rule holds for any ClipModel.
      let ss = 0;
      for (let d = 0; d < dim; d++) ss += emb[row + d] * emb[row + d];
      const scale = ss > 0 ? inv / Math.sqrt(ss) : 0;
      const o = Math.floor(p / T) * dim;
      for (let d = 0; d < dim; d++) out[o + d] += emb[row + d] * scale;
    }
    opts.onProgress?.({ stage: 'embed prompts', done: end, total });
  }
  return out;
}
