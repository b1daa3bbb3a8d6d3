// `v2l eval merge`: the finished states of all shards of one evaluation -> the state and outputs of the
// whole run, equal to an unsplit run's (sums and feature statistics merge exactly; only the order of
// float64 additions differs). Node edge.
import { resolve } from 'node:path';
import { loadState, withOutputFolder, mergeStates, saveState, STATE_FILE, type EvalState } from './run-state.js';
import { summarizeReconstruction, writeReconstructionOutputs } from './reconstruction.js';
import { summarizeSemantic, writeSemanticOutputs } from './semantic.js';
import { summarizeRestoration, writeRestorationOutputs } from './restoration.js';

/** Per evaluation kind: figures from a state, and the files they are written to. */
const KINDS: Record<string, (out: string, state: EvalState) => Promise<unknown>> = {
  reconstruction: async (out, state) => {
    const r = summarizeReconstruction(state);
    await writeReconstructionOutputs(out, r);
    return r;
  },
  semantic: async (out, state) => {
    const r = summarizeSemantic(state);
    await writeSemanticOutputs(out, r);
    return r;
  },
  restoration: async (out, state) => {
    const r = summarizeRestoration(state);
    await writeRestorationOutputs(out, r);
    return r;
  },
};

/** Registers another evaluation kind for merging. */
export function registerMergeKind(kind: string, write: (out: string, state: EvalState) => Promise<unknown>): void {
  KINDS[kind] = write;
}

export async function mergeEvaluations(dirs: readonly string[], out: string): Promise<{ kind: string; result: unknown; shards: number }> {
  const states = dirs.map((d) => {
    const s = loadState(resolve(d));
    if (!s) throw new Error(`merge: ${resolve(d)} has no ${STATE_FILE} (not an evaluation output folder)`);
    return s;
  });
  const merged = mergeStates(states);
  const write = KINDS[merged.kind];
  if (!write) throw new Error(`merge: unknown evaluation kind "${merged.kind}"`);
  const dir = resolve(out);
  return withOutputFolder(dir, async () => {
    saveState(dir, merged);
    return { kind: merged.kind, result: await write(dir, merged), shards: states.length };
  });
}
