// The captioning prompt of the paper (§4.2, Fig. 5; tasks-spec.md §2), as text segments. Portable.
//
//   Generate a caption sentence based on words describing an image.
//   Input: <global tokens of shot 1>, output: <caption 1>.
//   ... (10 shots)
//   Input: <global tokens of the query>, output:
//
// The paper writes "{Samples}." without saying what separates the samples: v2l puts each on its own line
// and ends every caption with "." (the token generation stops at), so the in-context block shows the
// model where a caption ends. The instruction and the shots form the prefix (evaluated once and reused
// across queries when the shots are fixed); the query line is the prompt.
import { globalText } from '../global-text.js';
import { segmentsPrompt, type PlainTokenize, type PromptProtocol } from '../prompt-protocol.js';
import type { Prompt } from '../../models/llm/types.js';

export const CAPTION_INSTRUCTION = 'Generate a caption sentence based on words describing an image.';

export interface CaptionShot {
  /** The shot image's global-token texts, nearest first. */
  globalTexts: readonly string[];
  caption: string;
}

/** A caption as an in-context answer: trimmed, its closing punctuation replaced by one ".". */
export function shotCaption(caption: string): string {
  const c = caption.trim().replace(/\s*[.!?\s]*$/, '');
  if (!c) throw new Error(`empty caption: ${JSON.stringify(caption)}`);
  return `${c}.`;
}

const style = (p: PromptProtocol) => (p === 'reference' ? 'reference' : 'words');

/** The in-context block (instruction and shots) as segments. */
export function captionPrefixSegments(shots: readonly CaptionShot[], protocol: PromptProtocol): string[] {
  const segs = [`${CAPTION_INSTRUCTION}\n`];
  for (const s of shots) segs.push('Input: ', globalText(s.globalTexts, style(protocol)), ', output: ', `${shotCaption(s.caption)}\n`);
  return segs;
}

/** The query line as segments. */
export function captionQuerySegments(globalTexts: readonly string[], protocol: PromptProtocol): string[] {
  return ['Input: ', globalText(globalTexts, style(protocol)), ', output:'];
}

export async function captionPrompt(
  shots: readonly CaptionShot[], query: readonly string[], protocol: PromptProtocol, tokenize: PlainTokenize,
): Promise<{ prefix: Prompt; prompt: Prompt }> {
  return {
    prefix: await segmentsPrompt(captionPrefixSegments(shots, protocol), protocol, tokenize),
    prompt: await segmentsPrompt(captionQuerySegments(query, protocol), protocol, tokenize),
  };
}

/** Where generation stops: the paper stops at "."; v2l also at a line break (the start of another sample). */
export function captionStops(protocol: PromptProtocol): string[] {
  return protocol === 'reference' ? ['.'] : ['.', '\n'];
}

/** The caption from the generated text: up to and without the stop, trimmed. */
export function captionFromGenerated(text: string): string {
  return text.replace(/[.\n][\s\S]*$/, '').trim();
}
