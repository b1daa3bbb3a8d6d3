// The `v2l` command line. Each command group lives in its own file under ./commands and registers
// itself on the program; this file only wires them together.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { commands } from './commands/index.js';

export function buildProgram(): Command {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('v2l')
    .description('V2L Tokenizer: images as words of a frozen LLM (CVPR 2024)')
    .version(pkg.version)
    .option('--backend <name>', 'tensor backend: wasm | cpu | tensorflow (default: tensorflow if tfjs-node is installed, else wasm; env V2L_BACKEND)')
    .showHelpAfterError();
  program.hook('preAction', (cmd) => {
    const backend = cmd.opts().backend as string | undefined;
    if (backend) process.env.V2L_BACKEND = backend;
  });
  for (const register of commands) register(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await buildProgram().parseAsync(argv);
}
