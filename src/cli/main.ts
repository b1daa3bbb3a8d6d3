// The `v2l` command line. Each command group lives in its own file under ./commands and registers
// itself on the program; this file only wires them together, loading only the file of the command run
// (./commands/index.ts lists what the others show in `v2l --help`).
import { Command, Help } from 'commander';
import { readFileSync } from 'node:fs';
import { COMMAND_FILES } from './commands/index.js';

/**
 * The top-level command that `argv` (process.argv: node, script, ...) runs, or that `help` asks about;
 * null when it names none (`v2l`, `v2l --help`, `v2l --version`).
 */
export function commandNamed(argv: readonly string[]): string | null {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--backend') i++; // the one global option with a value
    else if (a === 'help') return args.slice(i + 1).find((x) => !x.startsWith('-')) ?? null;
    else if (!a.startsWith('-')) return a;
  }
  return null;
}

/**
 * The program. Given `argv`, only the file of the command it runs is loaded (its full definitions); every
 * other command is a placeholder that shows its help line, so one command's modules (a half-written
 * training file, onnxruntime, llama.cpp) neither break nor slow another. Without `argv` every file is loaded.
 */
export async function buildProgram(argv?: readonly string[]): Promise<Command> {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command('v2l')
    .description('V2L Tokenizer: images as words of a frozen LLM (CVPR 2024)')
    .version(pkg.version)
    .option('--backend <name>', 'refused: the tfjs tensor backends of earlier versions are gone (everything runs on onnxruntime: --engine-threads, --device)')
    .showHelpAfterError();
  // Every network runs on onnxruntime, loaded where used; a script still naming a tfjs backend is told so.
  program.hook('preAction', (cmd) => {
    const b = cmd.opts().backend as string | undefined;
    if (b !== undefined) throw new Error(`--backend ${b}: the tfjs tensor backends are gone; v2l runs its networks on onnxruntime (threads: --engine-threads, GPU: --device cuda)`);
  });
  const wanted = argv ? commandNamed(argv) : undefined;
  const placeholders = new Map<Command, string>();
  program.configureHelp({
    subcommandTerm(this: Help, c: Command): string {
      return placeholders.get(c) ?? Help.prototype.subcommandTerm.call(this, c);
    },
  });
  for (const file of COMMAND_FILES) {
    if (wanted === undefined || (wanted !== null && Object.hasOwn(file.commands, wanted))) {
      (await file.load()).register(program);
      continue;
    }
    for (const [name, line] of Object.entries(file.commands)) {
      const c = program.command(name).description(line.description).action(() => {
        throw new Error(`${name} was not loaded for this command line`); // unreachable: its file loads when named
      });
      placeholders.set(c, line.term);
    }
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  await (await buildProgram(argv)).parseAsync(argv);
}
