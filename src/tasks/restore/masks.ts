// Which local token positions a restoration task predicts, and in which steps. Portable.
//
// The reference (eval_denoising_generation.py:454-456, a 16 x 16 grid): inpainting hides rows 4-11 x
// cols 4-11, outpainting rows 8-15, deblur/rotation/shift predict every position. For another grid side
// g the same fractions are used: inpainting [g/4, 3g/4) in both directions, outpainting rows [g/2, g).
// The scan (D:448-527) walks positions in raster order: a position that is not predicted advances by 1,
// a predicted one starts a step that writes m ids (p .. p+m-1, cut at the grid's end) and advances by m.

export type RestoreTask = 'inpaint' | 'outpaint' | 'deblur' | 'rotate' | 'shift';

export const RESTORE_TASKS: readonly RestoreTask[] = ['inpaint', 'outpaint', 'deblur', 'rotate', 'shift'];

/** True for the tasks whose corruption hides tokens (the rest corrupt pixels). */
export const isMaskTask = (t: RestoreTask): t is 'inpaint' | 'outpaint' => t === 'inpaint' || t === 'outpaint';

/** Raster-order mask of the g x g positions the task predicts (true = predicted / hidden). */
export function predictionMask(task: RestoreTask, g: number): boolean[] {
  if (!Number.isInteger(g) || g < 1) throw new Error(`grid side must be a positive integer (got ${g})`);
  const mask = new Array<boolean>(g * g).fill(!isMaskTask(task));
  if (task === 'inpaint') {
    if (g % 4 !== 0) throw new Error(`inpainting hides the centre half of the grid: the grid side ${g} must be a multiple of 4`);
    for (let r = g / 4; r < (3 * g) / 4; r++) for (let c = g / 4; c < (3 * g) / 4; c++) mask[r * g + c] = true;
  } else if (task === 'outpaint') {
    if (g % 2 !== 0) throw new Error(`outpainting hides the bottom half of the grid: the grid side ${g} must be even`);
    for (let i = (g / 2) * g; i < g * g; i++) mask[i] = true;
  }
  return mask;
}

/** Start positions (raster index into the local grid) of the prediction steps, in scan order. */
export function predictionSteps(mask: readonly boolean[], m: number): number[] {
  if (!Number.isInteger(m) || m < 1) throw new Error(`m (tokens per step) must be a positive integer (got ${m})`);
  const out: number[] = [];
  let p = 0;
  while (p < mask.length) {
    if (!mask[p]) {
      p += 1;
      continue;
    }
    out.push(p);
    p += m;
  }
  return out;
}
