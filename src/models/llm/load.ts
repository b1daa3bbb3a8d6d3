// One way in for every caller: a model spec is either a path to a GGUF file (the local backend) or an
// http(s) URL of an OpenAI-compatible completions server (the remote backend). Node edge.
import { LlamaCppLLM, type LlamaCppOptions } from './llama-cpp.js';
import { RemoteLLM, type RemoteOptions } from './remote.js';
import type { LLM } from './types.js';
import { checkGgufFile } from './gguf-check.js';

export interface LoadLLMOptions {
  local?: LlamaCppOptions;
  remote?: Omit<RemoteOptions, 'baseUrl'>;
}

export function isRemoteSpec(spec: string): boolean {
  return /^https?:\/\//i.test(spec);
}

export async function loadLLM(spec: string, opts: LoadLLMOptions = {}): Promise<LLM> {
  if (isRemoteSpec(spec)) return RemoteLLM.connect({ ...opts.remote, baseUrl: spec });
  if (!/\.gguf$/i.test(spec)) throw new Error(`LLM spec ${spec} is neither a .gguf file nor an http(s) URL`);
  await checkGgufFile(spec); // a clear message for a damaged or truncated file, before llama.cpp sees it
  return LlamaCppLLM.load(spec, opts.local);
}
