// v2l/eval: the paper's evaluation metrics (portable: no Node API). The commands that run them over
// image folders are in ./reconstruction.ts etc. (Node edge) and the `v2l eval` CLI.
export { frechetDistance, frechetDistanceFromStats, frechetDetail, traceSqrtProduct, FeatureStats, FID_EPS, type FrechetOptions, type FrechetDetail } from './fid.js';
export { psnr, psnrY, ssim, yChannel, type ImageLike, type PsnrOptions, type SsimOptions } from './image-metrics.js';
export { symmetricEigen, pivotedCholesky, matmul, type SymmetricEigen } from './linalg.js';
export { vqaAccuracy, meanVqaAccuracy, normalizeAnswer, processPunctuation, processDigitArticle } from './vqa-accuracy.js';
export { bleu, ciderD, ptbTokenize, tokenizeSamples, captionScores, type CaptionSample, type BleuResult, type CiderResult } from './caption-metrics.js';
