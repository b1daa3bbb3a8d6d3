// The paper's numbers (arXiv 2403.07874, CVPR 2024) that the evaluation commands print beside ours.
// Source: tasks-spec.md §6 (checked against the paper's tables). Portable.

/** Table 3: reconstruction on ImageNet-1K val (50,000 images). */
export const TABLE3 = [
  { method: 'VQ-GAN* (LLaMA-2 codebook)', short: 'VQ-GAN* 256', tokens: 256, fid: 9.51, lpips: 0.17, psnr: 21.48 },
  { method: 'Ours (LLaMA-2, 256 local)', short: 'V2L 256', tokens: 256, fid: 3.41, lpips: 0.08, psnr: 23.56 },
  { method: 'Ours (Hybrid, 21 global + 256 local)', short: 'V2L 277', tokens: 277, fid: 2.88, lpips: 0.08, psnr: 23.25 },
] as const;

/** Table 2: semantic quality of the global tokens on ImageNet-1K val. */
export const TABLE2 = [
  { method: 'SPAE', tokens: 5, clip: 0.1868, clipR: 0.7147 },
  { method: 'SPAE', tokens: 21, clip: 0.1815, clipR: 0.6901 },
  { method: 'V2L', tokens: 5, clip: 0.2576, clipR: 0.9165 },
  { method: 'V2L', tokens: 21, clip: 0.2427, clipR: 0.8520 },
] as const;

/** Table 4: in-context restoration, FID / LPIPS over 5,000 ImageNet val images. */
export const TABLE4_TASKS = ['inpainting', 'outpainting', 'deblurring', 'rotation', 'shift'] as const;
export const TABLE4: Record<'7B' | '13B' | '70B', Record<(typeof TABLE4_TASKS)[number], { fid: number; lpips: number }>> = {
  '7B': { inpainting: { fid: 13.13, lpips: 0.1219 }, outpainting: { fid: 15.28, lpips: 0.1442 }, deblurring: { fid: 10.09, lpips: 0.1033 }, rotation: { fid: 10.64, lpips: 0.1064 }, shift: { fid: 10.53, lpips: 0.1058 } },
  '13B': { inpainting: { fid: 11.70, lpips: 0.1134 }, outpainting: { fid: 12.56, lpips: 0.1275 }, deblurring: { fid: 10.60, lpips: 0.1085 }, rotation: { fid: 11.36, lpips: 0.1128 }, shift: { fid: 11.84, lpips: 0.1176 } },
  '70B': { inpainting: { fid: 10.11, lpips: 0.1021 }, outpainting: { fid: 10.73, lpips: 0.1128 }, deblurring: { fid: 10.42, lpips: 0.1058 }, rotation: { fid: 10.48, lpips: 0.1058 }, shift: { fid: 10.79, lpips: 0.1093 } },
};
