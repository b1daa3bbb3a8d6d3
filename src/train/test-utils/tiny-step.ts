// One generator step of a tiny network on seeded random inputs (batch 2, 16 px images), for the tests that
// compare step-graph options: the same weights and inputs whatever the options, so outputs can be compared.
import type { V2LConfig } from '../../network/config.js';
import { NetworkParams } from '../../network/network-params.js';
import { randn } from '../../util/random.js';
import { GeneratorStepSession, type StepOutputs } from '../onnx-session.js';
import type { StepGraphOptions } from '../onnx-step.js';

export const TINY_STEP_BATCH = 2;

/** The trainable generator parameters' names of `config`'s network (seed 5), as tinyStep trains them. */
export function tinyStepNames(config: V2LConfig): string[] {
  return new NetworkParams(config, { seed: 5 }).trainableNames().gen;
}

/** One step of `config`'s network (seed 5) with the graph options `opts` on top of the defaults (L1, k 3). */
export async function tinyStep(config: V2LConfig, opts: Partial<StepGraphOptions> = {}): Promise<StepOutputs> {
  const batch = TINY_STEP_BATCH;
  const net = new NetworkParams(config, { seed: 5 });
  const { gen } = net.trainableNames();
  const graph: StepGraphOptions = { batch, imageSize: 16, kGlobal: 3, recLoss: 'l1', ...opts };
  const s = await GeneratorStepSession.create(config, net.stateDict(), gen, graph, { threads: 1 });
  try {
    return await s.run({
      params: new Map(gen.map((n) => [n, net.get(n)])),
      images: randn(batch * 3 * 16 * 16, 11).map((v) => Math.tanh(v)),
      clip: randn(batch * config.embedDim, 12),
      localCodebook: randn(config.nLocal * config.embedDim, 13),
      globalCodebook: randn(config.nGlobal * config.embedDim, 14),
      vqWeight: 1,
      quantized: true,
    });
  } finally {
    await s.release();
  }
}
