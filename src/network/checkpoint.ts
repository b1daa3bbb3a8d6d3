// Gradient checkpointing (activation recomputation) of one block: under a gradient tape the forward keeps
// only the block's input; the backward runs the block again and differentiates that copy. Memory for
// training then holds block inputs instead of every intermediate (GroupNorm, swish, conv outputs), at the
// cost of a second forward per block.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamStore } from './params.js';
import type { Block } from './resnet-block.js';

/** Shared, mutable switch: the network flips it; every wrapped block reads it per call. */
export interface CheckpointSwitch {
  enabled: boolean;
}

/** The part of tfjs' engine state that a gradient computed inside a backward pass disturbs. */
interface EngineTapeState {
  state: { activeTape: unknown };
}

/**
 * `block` (whose parameters are every variable named `${prefix}.*`) wrapped so that, while `sw.enabled`,
 * it runs as one tf.customGrad op. The block's input and its parameter variables are the op's explicit
 * inputs, so the caller's tape routes gradients to those variables; customGrad runs the forward with the
 * tape off, so none of the block's internals are kept.
 */
export function checkpointed(p: ParamStore, prefix: string, block: Block, sw: CheckpointSwitch): Block {
  let names: string[] | null = null;
  return (x) => {
    if (!sw.enabled) return block(x);
    names ??= [...p.specs.keys()].filter((k) => k.startsWith(`${prefix}.`));
    const vars = names.map((n) => p.get(n));
    const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const input = args[0] as tf.Tensor4D;
      (args[args.length - 1] as tf.GradSaveFunc)([input]);
      return { value: block(input), gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => recompute(block, saved[0] as tf.Tensor4D, vars, dy as tf.Tensor) };
    });
    return op(x, ...vars) as tf.Tensor4D;
  };
}

/**
 * Gradients of sum(block(x) * dy) w.r.t. x and each of `vars`, by running the block again on a fresh tape.
 * When the outer backward pass is the outermost gradient (depth 0), tfjs' `gradients` would replace the
 * engine's active tape with this inner one and null it on exit; the outer pass then fails ("Cannot read
 * properties of null") and leaks its saved tensors. The outer tape is put back afterwards.
 */
function recompute(block: Block, x: tf.Tensor4D, vars: tf.Variable[], dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine() as unknown as EngineTapeState;
  const outer = engine.state.activeTape;
  try {
    return tf.tidy(() => {
      const inputs: tf.Tensor[] = [x, ...vars];
      const { value, grads } = tf.engine().gradients(() => block(x), inputs, dy, true);
      value.dispose();
      return inputs.map((t, i) => grads[i] ?? tf.zerosLike(t));
    });
  } finally {
    engine.state.activeTape = outer;
  }
}
