// v2l/train: training the tokenizer network (the reference's recipe), its data, checkpoints, metrics,
// the CLIP embedding cache view, LPIPS, and data-parallel steps. Node edge; the losses, Adam, schedule
// and replica math are also in v2l/core.
export { train, makeDecoder, dataFingerprint, type TrainOptions, type TrainResult } from './loop.js';
export { prepareTraining, defaultLpipsHeads, type TrainSettings, type PreparedRun } from './setup.js';
export { PRESETS as TRAIN_PRESETS, getPreset as getTrainPreset, type Preset as TrainPreset } from './presets.js';
export { listImages, splitValidation, BatchSampler, PrefetchLoader, SeededRng, type Batch, type DecodeImage } from './data.js';
export { ClipEmbeddingCache, type EmbedFilesOptions } from './clip-cache.js';
export { saveCheckpoint, loadCheckpoint, resolveCheckpoint, listCheckpoints, modelWeights, CHECKPOINT_FORMAT, type Checkpoint, type TrainState } from './checkpoint.js';
export { MetricsLog, readMetrics, type MetricsRecord } from './metrics.js';
export { plotLossCurves, lossCurvesSvg } from './plot.js';
export { OnnxRunner, type StepRunner, type StepResult } from './onnx-runner.js';
export { loadLpips, readLpipsHeads, readBackboneWeights, type LoadLpipsOptions } from './lpips-files.js';
export { reconstructionError, discFactorAt, type ReconstructionLoss } from './losses.js';
export { Lpips, standInBackbone, tapChannels, backboneLayers, type LpipsBackbone, type LpipsOptions } from './lpips.js';
export { Adam, clipGradNorm, type AdamOptions } from './adam.js';
export { learningRate, type ScheduleOptions } from './schedule.js';
export { Replica, LAST_LAYER, type LossConfig, type OptimConfig, type StepTerms } from './replica.js';
