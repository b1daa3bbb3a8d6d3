// `v2l serve`: the local web viewer of tokens, reconstructions and token edits (src/serve).
import type { Command } from 'commander';
import { V2LTokenizer } from '../../tokenizer/tokenizer.js';
import { readVocabulary } from '../../models/llm/gguf-vocabulary.js';
import { isRemoteSpec, loadLLM } from '../../models/llm/load.js';
import type { LLM, Vocabulary } from '../../models/llm/types.js';
import { int, num, oneOf } from '../options.js';
import { withDemoDefault } from '../task-flags.js';

interface ServeFlags {
  checkpoint: string;
  codebook?: string;
  clip?: string;
  llm?: string;
  host: string;
  port: number;
  images?: string;
  fewshotData?: string;
  contextSize?: number;
  globalTokens?: number;
  imageSize?: number;
  preprocess: 'simple' | 'reference';
  maxUploadMb: number;
  maxMegapixels: number;
  queue: number;
  log?: boolean;
  static?: string | boolean;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

async function vocabularyOf(spec: string): Promise<Vocabulary> {
  if (!isRemoteSpec(spec)) return readVocabulary(spec); // the GGUF header only: no weights loaded
  const llm = await loadLLM(spec);
  try {
    return await llm.vocabulary();
  } finally {
    await llm.dispose();
  }
}

export function register(program: Command): void {
  program.command('serve')
    .description('local web viewer: an image\'s global and local tokens over it, the reconstruction, token edits, the codebook')
    .option('--checkpoint <file>', 'weights: a v2l safetensors file (v2l train / import-official) or the official .pth (no model flag at all: the built-in demo tokenizer)')
    .option('--codebook <dir>', 'codebook package (gives the token texts)')
    .option('--clip <dir>', 'CLIP folder in the Hugging Face layout (ONNX), for the global tokens')
    .option('--llm <gguf|url>', 'the LLM whose vocabulary the local tokens are: shows them as its raw pieces (a vocab-only GGUF is enough), and runs restoration (a full model)')
    .option('--host <addr>', 'address to bind (default loopback only; anything else exposes the viewer to the network)', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free one)', int('port', 0), 8080)
    .option('--images <dir>', 'a folder of images to choose from and to browse by global token on the codebook page')
    .option('--context-size <n>', 'local LLM: context window in tokens (default: the model\'s training context, at most 4096)', int('context-size', 16))
    .option('--fewshot-data <dir>', 'a labelled dataset (class folders, or Tiny-ImageNet\'s val layout) for the Few-shot tab (needs --llm)')
    .option('--global-tokens <k>', 'global tokens per image (default 5)', int('global-tokens', 1))
    .option('--image-size <px>', 'encoder input side (default: the checkpoint\'s, else 128)', int('image-size', 1))
    .option('--preprocess <mode>', 'simple or reference', oneOf('preprocess', ['simple', 'reference'] as const), 'simple')
    .option('--max-upload-mb <n>', 'largest upload in MB', num('max-upload-mb'), 20)
    .option('--max-megapixels <n>', 'largest image in megapixels', num('max-megapixels'), 40)
    .option('--queue <n>', 'network jobs that may wait behind the running one (then: 503 busy)', int('queue', 0), 8)
    .option('--log', 'one line per request on stderr')
    .option('--static [dir]', 'serve the in-browser build instead (default dist/static, written by npm run build): every model runs in the page, from files the user chooses; no model flag')
    .action(async (given: ServeFlags) => {
      if (given.static !== undefined) {
        const { startStaticServer } = await import('../../serve/static.js');
        if (!LOOPBACK.has(given.host)) console.error(`v2l serve: note: binding ${given.host} makes the page reachable from the network (it computes nothing here: the models run in each visitor's browser)`);
        const running = await startStaticServer({ root: typeof given.static === 'string' ? given.static : undefined, host: given.host, port: given.port, log: given.log });
        console.log(running.url);
        console.error('v2l serve --static: the in-browser build, cross-origin isolated (COOP/COEP) for wasm threads; Ctrl-C stops');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await running.close();
        return;
      }
      const f = await withDemoDefault(given, 'v2l serve');
      if (!f.checkpoint || !f.clip) throw new Error('serve needs --checkpoint <file> and --clip <dir> (or no model flag at all, for the built-in demo tokenizer)');
      if (!(f.maxUploadMb > 0) || !(f.maxMegapixels > 0)) throw new Error('--max-upload-mb and --max-megapixels must be positive');
      const vocabulary = f.llm ? await vocabularyOf(f.llm) : null;
      // The model itself runs restoration; a vocab-only GGUF still gives the raw pieces.
      let llm: LLM | null = null;
      if (f.llm) {
        try {
          llm = await loadLLM(f.llm, { local: { contextSize: f.contextSize } });
        } catch (e) {
          console.error(`v2l serve: note: cannot run ${f.llm} (${(e as Error).message.split('\n')[0]}); its vocabulary still names the tokens, but the Restoration and Few-shot tabs are off`);
        }
      }
      // The ONNX engine, as tokenize: the viewer's distances and alternatives come from encode()'s own
      // searches, so they agree with it token for token.
      const loadOpts = {
        checkpoint: f.checkpoint, codebook: f.codebook, clip: f.clip, globalTokens: f.globalTokens, imageSize: f.imageSize,
        preprocess: f.preprocess, batchSize: 8, vocabulary: vocabulary ? { hash: vocabulary.hash, size: vocabulary.size } : undefined,
      };
      const tok = await V2LTokenizer.load(loadOpts);
      if (tok.clip?.isStandIn) console.error(`v2l serve: note: ${tok.clip.id} is the random-weight STAND-IN CLIP: global tokens are not meaningful (the page says so)`);
      // Loaded here, not at CLI start: `v2l --help` and other commands never pay for the server's modules.
      const { Viewer } = await import('../../serve/viewer.js');
      const { startServer } = await import('../../serve/server.js');
      const viewer = new Viewer({
        tokenizer: tok, vocabulary, imagesDir: f.images, llm, fewshotData: f.fewshotData, demo: f.demo,
        limits: { maxUploadBytes: Math.round(f.maxUploadMb * 1024 * 1024), maxPixels: Math.round(f.maxMegapixels * 1e6), queueLength: f.queue },
      });
      if (!LOOPBACK.has(f.host)) console.error(`v2l serve: WARNING: binding ${f.host} exposes the viewer (and this machine's CPU) to the network; there is no authentication`);
      const running = await startServer({ viewer, host: f.host, port: f.port, log: f.log });
      // The URL on stdout (machine-readable first line), the rest on stderr.
      console.log(running.url);
      console.error(`v2l serve: ${tok.imageSize} px images, ${tok.gridSize}x${tok.gridSize} local tokens, ${tok.globalTokens} global; Ctrl-C stops`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await running.close();
      viewer.dispose();
      await tok.dispose();
      await llm?.dispose();
    });
}
