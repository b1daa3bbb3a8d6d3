// `npm run bench -- restore [--tasks inpaint,deblur] [--images 2] [--batch 1,16]`: images/s and LLM tokens
// per image of `v2l restore`, both protocols, with stories260K (context 128: 2 examples of n = 2, the
// reference's 10 x 16 do not fit) and llama2-vocab-random-tiny (the reference's sizes). The tokenizer is
// the task test fixture (tiny random network, 16 x 16 grid, stand-in CLIP): the restorations are
// meaningless; the timings are the LLM loop's and the tiny tokenizer's.
import { LlamaCppLLM } from '../../models/llm/llama-cpp.js';
import { V2LTokenizer } from '../../tokenizer/tokenizer.js';
import { taskFixture, type FixtureLLM } from '../test-utils/fixtures.js';
import { sharedPath } from '../../util/test-utils/shared.js';
import { restoreImages } from './run.js';
import type { RestoreProtocol, RestoreTask } from './run.js';
import { argString as arg } from '../../util/bench-args.js';

export async function benchRestore(args: string[]): Promise<void> {
  const tasks = arg(args, 'tasks', 'inpaint,deblur').split(',') as RestoreTask[];
  const nImages = Number(arg(args, 'images', '2'));
  const batches = arg(args, 'batch', '1,16').split(',').map(Number);
  const photos = ['coffee.png', 'giraffe.jpg', 'astronaut.png', 'chelsea.png'].map((p) => sharedPath(`data/photos/${p}`));
  const images = photos.slice(0, nImages);
  const context = ['cat.bmp', 'dog.jpg', 'eagle.jpg'].map((p) => sharedPath(`data/photos/${p}`));
  console.log('restore benchmark: fixture tokenizer (random weights, stand-in CLIP), 1 LLM thread; restorations are meaningless');
  console.log('model | task | protocol | batch | copies x n | images/s | s/image | LLM calls/image | tokens evaluated/image | reused/image');
  for (const model of ['stories260K', 'llama2-vocab-random-tiny'] as FixtureLLM[]) {
    const fx = await taskFixture({ llm: model });
    const small = model === 'stories260K';
    const tok = await V2LTokenizer.load({ checkpoint: fx.checkpoint, codebook: fx.codebook, clip: fx.clip });
    const llm = await LlamaCppLLM.load(fx.llmPath, { threads: 1 });
    try {
      for (const task of tasks) {
        for (const protocol of ['clean', 'reference'] as RestoreProtocol[]) {
          const pixel = task !== 'inpaint' && task !== 'outpaint';
          for (const batch of pixel ? batches : [1]) {
            const copies = small ? 2 : 10;
            const n = small ? 2 : 16;
            const before = llm.stats();
            let calls = 0;
            let ok = 0;
            const t0 = performance.now();
            for await (const r of restoreImages({ task, protocol, tokenizer: tok, llm, images, contextImages: context, copies, n, batch })) {
              if (r.record.status !== 'ok') throw new Error(`${r.source}: ${r.record.error}`);
              calls += r.cost.calls;
              ok++;
            }
            const s = (performance.now() - t0) / 1000;
            const after = llm.stats();
            const per = (v: number) => (v / ok).toFixed(0);
            console.log(`${model} | ${task} | ${protocol} | ${batch} | ${protocol === 'clean' && pixel ? Math.min(copies, context.length) : copies} x ${pixel ? 2 : n} | ${(ok / s).toFixed(3)} | ${(s / ok).toFixed(2)} | ${per(calls)} | ${per(after.evaluatedTokens - before.evaluatedTokens)} | ${per(after.reusedTokens - before.reusedTokens)}`);
          }
        }
      }
    } finally {
      await llm.dispose();
      await tok.dispose();
    }
  }
}
