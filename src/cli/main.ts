// The `v2l` command line. Each command group lives in its own file under ./commands and registers
// itself on the program; this file only wires them together.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { commands } from './commands/index.js';
import { chooseBackend, initBackend } from '../engine/backend.js';

/**
 * Command groups that need no tfjs tensor backend: no tensor runtime is loaded for them (the tokenizer,
 * the tasks and the evaluations run their networks on onnxruntime, loaded when used). train, codebook
 * and import-official still compute with tfjs (docs/architecture.md, "Where tfjs remains").
 */
const NO_TENSORS = new Set(['models', 'llm', 'clip', 'tokenize', 'reconstruct', 'serve', 'export-onnx',
  'fewshot', 'caption', 'vqa', 'restore', 'lora-data', 'eval', 'reproduce']);

export function buildProgram(): Command {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('v2l')
    .description('V2L Tokenizer: images as words of a frozen LLM (CVPR 2024)')
    .version(pkg.version)
    .option('--backend <name>', 'tensor backend: wasm | cpu | tensorflow (default: tensorflow if tfjs-node is installed, else wasm; env V2L_BACKEND)')
    .showHelpAfterError();
  // The CLI is the entry point that chooses the tensor backend (library code only checks that one is
  // ready): --backend, else V2L_BACKEND, else the default. Nothing is loaded for --help.
  program.hook('preAction', async (cmd, action) => {
    chooseBackend(cmd.opts().backend as string | undefined, '--backend');
    let top = action;
    while (top.parent && top.parent !== cmd) top = top.parent;
    if (!NO_TENSORS.has(top.name())) await initBackend();
  });
  for (const register of commands) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
