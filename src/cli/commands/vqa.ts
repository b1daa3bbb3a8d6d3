// `v2l vqa`: the paper's in-context visual question answering with global tokens.
import type { Command } from 'commander';
import { inContextFlags, runInContextCommand, fileId, type InContextFlags } from './caption.js';
import { readVqaItems, runVqa } from '../../tasks/vqa/run.js';

export function register(program: Command): void {
  inContextFlags(
    program.command('vqa')
      .description('in-context visual question answering (paper §4.2): a frozen LLM answers a question in one word from an image\'s global tokens after shots of (global tokens, question, answer); VQA accuracy when answers are known'),
    {
      examplesHelp: 'in-context questions: JSON array or JSON lines of { image, question, answer } (COCO-QA style), or easy-VQA\'s questions.json ([question, answer, imageId]; images/<id>.png beside it)',
      queriesHelp: 'the questions to answer (same forms; answers optional); without it, the examples whose images are not among the shots are the queries',
      maxTokens: 5,
      maxTokensHelp: 'generated tokens at most per answer (decoding stops at the end of the first word before that)',
    },
  ).action(async (f: InContextFlags) => {
    const pool = readVqaItems(f.examples, f.imageDir).items;
    let queries = f.queries ? readVqaItems(f.queries, f.queryImageDir).items : null;
    if (f.limit) {
      if (!queries) throw new Error('--limit needs --queries');
      queries = queries.slice(0, f.limit);
    }
    await runInContextCommand(f, (llm, tokens, k, onProgress) => runVqa({
      llm, tokens, pool, queries, shots: f.shots, seed: f.seed, k, resample: !!f.resampleShots, maxTokens: f.maxTokens,
      protocol: f.protocol, out: f.out!, fresh: f.fresh, onProgress,
      inputs: { examples: fileId(f.examples), queries: f.queries ? fileId(f.queries) : null, limit: f.limit ?? null, imageDir: f.imageDir ?? null, queryImageDir: f.queryImageDir ?? null },
    }));
  });
}
