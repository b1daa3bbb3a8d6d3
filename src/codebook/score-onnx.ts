// The global codebook filter's scoring on onnxruntime (Node edge): the k candidates of largest dot product
// with each image embedding, `scores = q table^T` by one MatMul against the table held transposed
// ([dim, N], fed once per call, not copied into the model) and TopK (ties: the lower row, as the JS
// loop). For cosine the caller gives unit rows (./filter.ts does). The plain-JS loop of
// models/clip/distance.ts is the yardstick (`filter.test.ts`).
import { GraphBuilder } from '../onnx/graph.js';
import { nodeRuntime, type OnnxEngineOptions } from '../tokenizer/onnx-node.js';
import type { OrtRuntime, OrtSession } from '../tokenizer/onnx-engine.js';
import type { TopKScorer } from './filter.js';

function scoreModel(dim: number): Uint8Array {
  const g = new GraphBuilder();
  const scores = g.op('MatMul', ['q', 'table_t']);
  const [, idx] = g.opN('TopK', [scores, 'k'], 2, { axis: -1, largest: 1, sorted: 1 });
  g.op('Identity', [idx], {}, 'indices');
  return g.build('v2l_filter_topk', [{ name: 'q', type: 'float32', shape: ['m', dim] }, { name: 'table_t', type: 'float32', shape: [dim, 'n'] }, { name: 'k', type: 'int64', shape: [1] }],
    [{ name: 'indices', type: 'int64', shape: ['m', 'k'] }], 'v2l global codebook filter: top-k rows by dot product');
}

/** A scorer over `table` [rows, dim] (transposed once here) on onnxruntime-node; `close()` releases the session. */
export async function onnxTopKScorer(table: Float32Array, dim: number, opts: OnnxEngineOptions = {}): Promise<TopKScorer & { close(): Promise<void> }> {
  const rows = table.length / dim;
  const t = new Float32Array(table.length);
  for (let r = 0; r < rows; r++) for (let j = 0; j < dim; j++) t[j * rows + r] = table[r * dim + j];
  const runtime: OrtRuntime = nodeRuntime(opts);
  const session: OrtSession = await runtime.createSession(scoreModel(dim));
  const tableT = runtime.tensor('float32', t, [dim, rows]);
  const scorer = async (q: Float32Array, n: number, k: number): Promise<Int32Array> => {
    const out = await session.run({ q: runtime.tensor('float32', q, [n, dim]), table_t: tableT, k: runtime.tensor('int64', BigInt64Array.of(BigInt(k)), [1]) });
    return Int32Array.from(out.indices.data as BigInt64Array, Number);
  };
  return Object.assign(scorer, { close: () => session.release() });
}
