// The page's local search: the portable engine's int8 first pass (../tokenizer/onnx-engine.ts: approximate
// distances in 8-bit integers, their error bounded per row, the candidates re-ranked exactly, rows the bound
// does not separate searched in float32, so the ids are the float32 search's), on every codebook size. On
// onnxruntime-web's wasm kernels the int8 GEMM runs ~2.5x as many multiply-adds per second as the float32
// one (128-bit wasm SIMD has no fused multiply-add), where natively the gain is small: Node takes the int8
// pass only from 65,536 rows. Its model is the export's local_search_int8_wasm.onnx (`v2l export-onnx`;
// wasmCoarseSearchModel of ../network/v2l-model.onnx.ts), which reads the float32 rows from the export's
// projected codebook as ONNX external data, so they are not fed (copied into wasm memory) at every call.
import { WASM_INT8_LEVELS } from '../network/quantize.onnx.js';
import { ONNX_FILES, type Int8SearchModel } from '../tokenizer/onnx-engine.js';

/**
 * Candidates per row beyond k, all with their float32 distances: at 32,000 rows (paper network, random
 * weights) 255 leave ~0.3% of the rows to the float32 search, 191 ~4%, 127 ~17% (and 255 candidates with
 * float32 distances for only 63 of them ~54%); measured on onnxruntime-web in Node, 1 thread: 255 and 191
 * cost about the same CPU time, 127 more.
 */
export const PAGE_INT8_CANDIDATES = 255;

/** The page's int8 first pass, from the bytes of local_search_int8_wasm.onnx. */
export function pageInt8Search(model: Uint8Array): Int8SearchModel {
  return { model, levels: WASM_INT8_LEVELS, rowsFile: ONNX_FILES.projectedCodebook, candidates: PAGE_INT8_CANDIDATES };
}
