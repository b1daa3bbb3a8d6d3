// Reading a vocabulary from a GGUF file's metadata (Node edge: node-llama-cpp's GGUF reader). Reads the
// header only, so it works on full models and on vocab-only files alike.
import { makeVocabulary } from './vocabulary.js';
import type { Vocabulary } from './types.js';
import { checkGgufFile } from './gguf-check.js';

interface GgufTokenizerMeta {
  ggml?: { model?: string; tokens?: string[]; token_type?: number[]; bos_token_id?: number; eos_token_id?: number };
}

export async function readVocabulary(ggufPath: string): Promise<Vocabulary> {
  await checkGgufFile(ggufPath);
  let meta: { tokenizer?: GgufTokenizerMeta };
  try {
    const { readGgufFileInfo } = await import('node-llama-cpp'); // loaded on first use, not at import
    meta = (await readGgufFileInfo(ggufPath, { readTensorInfo: false })).metadata as unknown as { tokenizer?: GgufTokenizerMeta };
  } catch (err) {
    throw new Error(`cannot read GGUF vocabulary from ${ggufPath}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const g = meta.tokenizer?.ggml;
  if (!g?.tokens?.length) throw new Error(`${ggufPath}: no tokenizer.ggml.tokens in the GGUF metadata`);
  return makeVocabulary(g.tokens, {
    bos: g.bos_token_id,
    eos: g.eos_token_id,
    model: g.model,
    types: g.token_type && g.token_type.length === g.tokens.length ? g.token_type : undefined,
  });
}
