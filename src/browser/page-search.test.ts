// The page's local search (./page-search.ts) on onnxruntime-web's wasm build, run here in Node (the same
// wasm binary the page runs): its int8 GEMM sums the full int8 range exactly, and the int8 first pass with
// the rows in the model gives the float32 search's ids (onnxruntime-node's) on exact and near ties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as web from 'onnxruntime-web';
import { GraphBuilder } from '../onnx/graph.js';
import { inlineExternalData } from '../onnx/external-data.js';
import { OnnxEmitter } from '../network/onnx.js';
import { searchModel, wasmCoarseSearchModel } from '../network/v2l-model.onnx.js';
import { WASM_INT8_LEVELS } from '../network/quantize.onnx.js';
import { CodebookSearch, ONNX_FILES, type OrtRuntime, type OrtSession } from '../tokenizer/onnx-engine.js';
import { createCodebookSearch } from '../tokenizer/onnx-node.js';
import { tieData } from '../tokenizer/test-utils/tie-data.js';
import { pageInt8Search } from './page-search.js';

web.env.wasm.numThreads = 1;

const wasmRuntime: OrtRuntime = {
  device: 'wasm',
  threads: 1,
  // external data inlined, as ./ort-web.ts does for the page
  createSession: async (model, opts) => await web.InferenceSession.create(opts?.externalData ? inlineExternalData(model as Uint8Array, opts.externalData) : model as Uint8Array,
    { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }) as unknown as OrtSession,
  tensor: ((type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => new web.Tensor(type, data, dims)) as OrtRuntime['tensor'],
};

test('the wasm int8 GEMM sums u8 x s8 products over the full int8 range exactly (no int16 saturation of pairs)', async () => {
  const [dim, n, m] = [256, 64, 4];
  // rows of +-levels, z of 0 and 1 (quantised to 0 and 255, zero point 0): adjacent products sum to 2 x 255 x 127 > 32,767
  const qt = Int8Array.from({ length: dim * n }, (_, i) => (Math.floor(i / n) % 5 === 0 ? -WASM_INT8_LEVELS : WASM_INT8_LEVELS));
  const g = new GraphBuilder();
  const e = new OnnxEmitter(g, new Map());
  const [zq, , zero] = g.opN('DynamicQuantizeLinear', ['z'], 3);
  g.op('Identity', [e.op('Cast', [e.op('MatMulInteger', [zq, g.int8Weight('b', [dim, n], qt), zero])], { to: 1 })], {}, 'y');
  const model = g.build('int8_gemm', [{ name: 'z', type: 'float32', shape: ['m', dim] }], [{ name: 'y', type: 'float32', shape: ['m', n] }]);
  const z = Float32Array.from({ length: m * dim }, (_, i) => (i % dim === 0 || (i % 7 === 3 && i >= dim && i < 2 * dim) ? 0 : 1));
  const s = await wasmRuntime.createSession(model);
  try {
    const y = (await s.run({ z: wasmRuntime.tensor('float32', z, [m, dim]) })).y.data as Float32Array;
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < n; c++) {
        let want = 0;
        for (let j = 0; j < dim; j++) want += (z[r * dim + j] ? 255 : 0) * qt[j * n + c];
        assert.equal(y[r * n + c], want, `row ${r}, column ${c}`);
      }
    }
  } finally {
    await s.release();
  }
});

test('the page\'s int8 first pass (its float32 rows read from the projected codebook\'s file) gives the float32 search\'s ids on exact and near ties, top-k too', async () => {
  const [n, dim, m] = [3000, 64, 700];
  const { rows, z } = tieData(11, n, dim, m);
  const exact = await createCodebookSearch(rows, n, dim, {}, { int8: false });
  const page = pageInt8Search(wasmCoarseSearchModel(rows, n, dim, ONNX_FILES.projectedCodebook));
  // and with float32 distances for fewer candidates than it returns: rows whose bound reaches past them take the float32 search
  const searches = await Promise.all([page, { ...page, exactCandidates: 15 }].map((model) =>
    CodebookSearch.create(wasmRuntime, rows, n, dim, searchModel(dim), { int8Model: model, int8: true })));
  try {
    for (const k of [1, 6]) {
      const want = [...await exact.nearest(z, m, k)];
      for (const [i, s] of searches.entries()) assert.deepEqual([...await s.nearest(z, m, k)], want, `k = ${k}, search ${i}`);
    }
    const [full, few] = searches;
    assert.equal(full.usesInt8, true);
    assert.ok(full.int8Fallbacks < full.int8Rows / 2, `most rows are separated (${full.int8Fallbacks} of ${full.int8Rows} fell back)`);
    assert.ok(few.int8Fallbacks > full.int8Fallbacks, `fewer float32 distances leave more rows to the float32 search (${few.int8Fallbacks} vs ${full.int8Fallbacks})`);
  } finally {
    await Promise.all([exact.dispose(), ...searches.map((s) => s.dispose())]);
  }
});
