// `v2l/eval/node`: the metrics of ./index.ts (`v2l/eval`) plus the commands' library functions for Node
// programs (image folders, ONNX networks, state files, charts). Kept off the main entry, which stays light.
export * from './index.js';
export { evaluateReconstruction, summarizeReconstruction, reconstructionMarkdown, type ReconstructionOptions, type ReconstructionResult, type LpipsProtocol } from './reconstruction.js';
export { evaluateSemantic, summarizeSemantic, semanticMarkdown, classOf, readClassNames, SEMANTIC_DEFINITION, type SemanticOptions, type SemanticResult } from './semantic.js';
export { evaluateRestoration, summarizeRestoration, restorationMarkdown, type RestorationEvalOptions, type RestorationResult } from './restoration.js';
export { writeFewshotOutputs } from './fewshot-table.js';
export { mergeEvaluations } from './merge.js';
export { loadInception, inceptionInput, INCEPTION_SIZE, type FeatureNet } from './inception.js';
export { writeStandInInception, STAND_IN_INCEPTION } from './stand-in-inception.js';
export { loadEvalLpips } from './lpips-alexnet.js';
export { readOnnxWeights, writeAlexnetOnnx } from './alexnet-onnx.js';
export { parseShard, loadState, saveState, mergeStates, type EvalState, type Shard } from './run-state.js';
export { reproducePlan, shellLine, PAPER_TABLES, type PaperTable, type ReproducePlan, type ReproduceInputs } from './reproduce.js';
export { TABLE2, TABLE3, TABLE4, TABLE4_TASKS } from './paper.js';
