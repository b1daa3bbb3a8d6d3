// `npm run bench -- <name> [options]`: the project's benchmarks. Each prints its figures and, where
// it compares two ways of doing the same thing, their ratio measured in the same run.
// Benchmarks live beside their code (src/<concept>/bench.ts); this file only dispatches.

type Bench = (args: string[]) => Promise<void>;

// name -> [module, exported function]
const benches: Record<string, [string, string]> = {
  tokenize: ['../src/tokenizer/bench.js', 'benchTokenize'],
  'tokenize-memory': ['../src/tokenizer/memory-bench.js', 'benchTokenizeMemory'],
  train: ['../src/train/bench.js', 'benchTrain'],
  llm: ['../src/models/llm/bench.js', 'benchLlm'],
  io: ['../src/io/bench.js', 'benchIo'],
  image: ['../src/image/bench.js', 'benchImage'],
  codebook: ['../src/codebook/bench.js', 'benchCodebook'],
  clip: ['../src/models/clip/bench.js', 'benchClip'],
  restore: ['../src/tasks/restore/bench.js', 'benchRestore'],
  eval: ['../src/eval/bench.js', 'benchEval'],
  browser: ['../src/browser/bench.js', 'benchBrowser'],
};

async function run(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (!name || !(name in benches)) {
    console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]`);
    process.exit(2);
  }
  const [modulePath, fn] = benches[name];
  const mod = (await import(modulePath)) as Record<string, Bench>;
  await mod[fn](rest);
}

run().catch((err) => {
  console.error(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exit(1);
});
