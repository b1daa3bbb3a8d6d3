// `npm run bench -- train ...`: the training step's throughput on onnxruntime against the PyTorch
// reference (./onnx-bench.ts).
import { argValue as arg } from '../util/bench-args.js';
import { benchTrainOnnx } from './onnx-bench.js';

export async function benchTrain(args: string[]): Promise<void> {
  const engine = arg(args, 'engine') ?? 'onnx';
  if (engine !== 'onnx') throw new Error(`--engine: training runs on onnxruntime only (--engine onnx), got "${engine}"`);
  return benchTrainOnnx(args);
}
