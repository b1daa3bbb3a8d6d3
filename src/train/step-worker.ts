// A worker-thread lane of a training step (./lanes.ts): builds its MicroStepper from the LaneSpec it is
// started with, then runs each request's micro-batches in order and replies with their results packed.
// Node edge (worker_threads).
import { parentPort, workerData } from 'node:worker_threads';
import { toWire, unpack, type LaneReply, type LaneRequest } from './lanes.js';
import { applyForms, MicroStepper, type LaneSpec } from './micro-step.js';

const port = parentPort;
if (!port) throw new Error('internal: step-worker.ts runs as a worker thread (./lanes.ts starts it)');
const spec = workerData as LaneSpec;
applyForms(spec.forms);
const stepper = new MicroStepper(spec);
let codebooks: { local: Float32Array; global: Float32Array } | null = null;

port.on('message', (m: LaneRequest | 'close') => {
  if (m === 'close') {
    void stepper.close().then(() => port.close());
    return;
  }
  void serve(m);
});

async function serve(req: LaneRequest): Promise<void> {
  try {
    codebooks = req.codebooks ?? codebooks;
    if (!codebooks) throw new Error('internal: the first request carries the codebooks');
    const step = { params: unpack(req.params), localCodebook: codebooks.local, globalCodebook: codebooks.global, projected: req.projected };
    const results = [];
    const transfer: ArrayBuffer[] = [];
    for (const f of req.micro) {
      const w = toWire(await stepper.run(step, f));
      results.push(w.wire);
      transfer.push(...w.transfer);
    }
    port!.postMessage({ id: req.id, results } satisfies LaneReply, transfer);
  } catch (err) {
    port!.postMessage({ id: req.id, error: (err as Error).stack ?? String(err) } satisfies LaneReply);
  }
}
