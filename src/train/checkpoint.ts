// Training checkpoints: one safetensors file per saved step, `<out>/checkpoints/step-<000000>.safetensors`,
// holding the network's state dict under its own (reference) keys, so that `v2l tokenize` and
// `v2l reconstruct` load it as they load any weights file, plus the optimiser moments under
// `optimizer.<gen|disc>.<m|v>/<param>`. Step, generator states, configuration and options are in the
// metadata. Written atomically; `latest` names the newest; only the last K are kept.
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { HostTensor } from '../io/dtypes.js';
import { readSafetensors, writeSafetensors } from '../io/files.js';
import { writeFileAtomic } from '../util/atomic.js';
import { weightsMetadata } from '../tokenizer/weights.js';
import type { V2LConfig } from '../network/config.js';

export const CHECKPOINT_FORMAT = 'v2l-train-checkpoint/1';
export const OPTIMIZER_PREFIX = 'optimizer.';

export interface TrainState {
  /** Steps completed. */
  step: number;
  /** Anything else the trainer needs to continue exactly (generator states, optimiser steps, ...), JSON. */
  extra: Record<string, unknown>;
}

export interface Checkpoint extends TrainState {
  path: string;
  /** Network state dict (reference keys). */
  model: Map<string, HostTensor>;
  /** Optimiser tensors (keys start with `optimizer.`). */
  optimizer: Map<string, HostTensor>;
  /** Network configuration as saved (JSON). */
  config: unknown;
  metadata: Record<string, string>;
}

export function checkpointDir(out: string): string {
  return join(out, 'checkpoints');
}

function fileFor(step: number): string {
  return `step-${String(step).padStart(7, '0')}.safetensors`;
}

/** Writes a checkpoint atomically, points `latest` at it, and deletes all but the newest `keepLast`. */
export function saveCheckpoint(
  out: string,
  state: TrainState,
  model: Map<string, HostTensor>,
  optimizer: Map<string, HostTensor>,
  config: unknown,
  keepLast: number,
): string {
  const dir = checkpointDir(out);
  const path = join(dir, fileFor(state.step));
  const tensors = new Map<string, HostTensor>(model);
  for (const [k, t] of optimizer) {
    if (!k.startsWith(OPTIMIZER_PREFIX)) throw new Error(`internal: optimiser key ${k} lacks the ${OPTIMIZER_PREFIX} prefix`);
    if (tensors.has(k)) throw new Error(`internal: optimiser key ${k} collides with a model key`);
    tensors.set(k, t);
  }
  // The weights metadata every reader of weights understands (configuration, image size, global tokens),
  // plus the training state.
  const extra = state.extra as { imageSize?: number; loss?: { kGlobal?: number } };
  writeSafetensors(path, tensors, {
    ...weightsMetadata({ format: CHECKPOINT_FORMAT, config: config as V2LConfig, imageSize: extra.imageSize, globalTokens: extra.loss?.kGlobal, source: 'train' }),
    step: String(state.step),
    train: JSON.stringify(state.extra),
  });
  writeFileAtomic(join(dir, 'latest'), fileFor(state.step) + '\n');
  if (keepLast > 0) {
    const all = listCheckpoints(out);
    for (const old of all.slice(0, Math.max(0, all.length - keepLast))) if (old !== path) rmSync(old, { force: true });
  }
  return path;
}

/** Checkpoint files of a run, oldest first. */
export function listCheckpoints(out: string): string[] {
  const dir = checkpointDir(out);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^step-\d+\.safetensors$/.test(f)).sort().map((f) => join(dir, f));
}

/**
 * The checkpoint to resume from: a file, or a run folder (its `latest`, else its newest step file).
 * Returns null for a run folder without checkpoints.
 */
export function resolveCheckpoint(pathOrOut: string): string | null {
  if (!existsSync(pathOrOut)) throw new Error(`--resume: ${pathOrOut} does not exist`);
  if (statSync(pathOrOut).isFile()) return pathOrOut;
  const dir = checkpointDir(pathOrOut);
  const latest = join(dir, 'latest');
  if (existsSync(latest)) {
    const p = join(dir, readFileSync(latest, 'utf8').trim());
    if (existsSync(p)) return p;
  }
  const all = listCheckpoints(pathOrOut);
  return all.length ? all[all.length - 1] : null;
}

export function loadCheckpoint(path: string): Checkpoint {
  const { tensors, metadata } = readSafetensors(path);
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new Error(`${path}: not a v2l training checkpoint (metadata format is ${JSON.stringify(metadata.format ?? null)}, expected ${CHECKPOINT_FORMAT})`);
  }
  const step = Number(metadata.step);
  if (!Number.isInteger(step) || step < 0) throw new Error(`${path}: metadata step ${JSON.stringify(metadata.step)} is not a step count`);
  const model = new Map<string, HostTensor>();
  const optimizer = new Map<string, HostTensor>();
  for (const [k, t] of tensors) (k.startsWith(OPTIMIZER_PREFIX) ? optimizer : model).set(k, t);
  let extra: Record<string, unknown>;
  let config: unknown;
  try {
    extra = JSON.parse(metadata.train ?? '{}') as Record<string, unknown>;
    config = JSON.parse(metadata.config ?? 'null');
  } catch (e) {
    throw new Error(`${path}: checkpoint metadata is not valid JSON (${(e as Error).message})`);
  }
  return { path, step, extra, model, optimizer, config, metadata };
}

/** Only the network weights of a checkpoint (what `tokenize` / `reconstruct` need). */
export function modelWeights(tensors: Map<string, HostTensor>): Map<string, HostTensor> {
  return new Map([...tensors].filter(([k]) => !k.startsWith(OPTIMIZER_PREFIX)));
}
