// CLIP's text tokenizer files in the Hugging Face layout, built from OpenAI's BPE merges file
// (bpe_simple_vocab_16e6.txt.gz). The vocabulary is derived exactly as CLIP's simple_tokenizer derives it:
// the 256 byte symbols (GPT-2 byte-to-unicode order), the same with "</w>", one entry per used merge
// (48,894 of them), then <|startoftext|> 49406 and <|endoftext|> 49407. The tokenizer.json pipeline
// (NFC, whitespace collapse, lower case; CLIP's split pattern; byte-level mapping; BPE with "</w>" word
// ends; start/end tokens) reproduces CLIP's ids, so a stand-in CLIP tokenizes text like the real one.
// Node edge (reads the gzip file).
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export const SOT = '<|startoftext|>';
export const EOT = '<|endoftext|>';
export const SOT_ID = 49406;
export const EOT_ID = 49407;
export const CLIP_VOCAB_SIZE = 49408;
/** Merges CLIP uses: lines 1 .. 49152-256-2 of the file (after its header line). */
const USED_MERGES = 49152 - 256 - 2;
/** CLIP's pre-tokenisation pattern (simple_tokenizer.py), start/end tokens handled as added tokens. */
export const CLIP_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/** GPT-2's reversible byte -> printable character map, in its own order. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  // Returned in bs order: the order in which CLIP lists the byte symbols in its vocabulary.
  return cs.map((c) => String.fromCharCode(c));
}

export interface ClipBpe {
  /** token -> id, 49,408 entries. */
  vocab: Map<string, number>;
  /** The used merges as "left right" strings, in rank order. */
  merges: string[];
}

/** Reads the merges file (gzip or plain text) and derives CLIP's vocabulary. */
export function loadClipBpe(mergesPath: string): ClipBpe {
  let raw: Buffer;
  try {
    raw = readFileSync(mergesPath);
  } catch (err) {
    throw new Error(`CLIP BPE merges file "${mergesPath}" cannot be read: ${(err as Error).message}`);
  }
  const text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
  const lines = text.split('\n');
  const merges = lines.slice(1, USED_MERGES + 1);
  if (merges.length !== USED_MERGES || merges.some((m) => m.split(' ').length !== 2)) {
    throw new Error(`"${mergesPath}" is not CLIP's BPE merges file: expected at least ${USED_MERGES} "a b" lines after the header`);
  }
  const symbols = bytesToUnicode();
  const list = [...symbols, ...symbols.map((s) => s + '</w>'), ...merges.map((m) => m.replace(' ', '')), SOT, EOT];
  const vocab = new Map<string, number>();
  list.forEach((tok, i) => vocab.set(tok, i));
  if (vocab.size !== CLIP_VOCAB_SIZE) throw new Error(`CLIP vocabulary from "${mergesPath}" has ${vocab.size} distinct entries, expected ${CLIP_VOCAB_SIZE}`);
  return { vocab, merges };
}

/** The tokenizer files of the Hugging Face layout, as name -> contents. */
export function clipTokenizerFiles(bpe: ClipBpe): Record<string, string> {
  const vocabObj = Object.fromEntries(bpe.vocab);
  const added = [SOT, EOT].map((content) => ({
    id: bpe.vocab.get(content), content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true,
  }));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: CLIP_SPLIT_PATTERN }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [EOT, EOT_ID], cls: [SOT, SOT_ID], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: EOT, continuing_subword_prefix: '', end_of_word_suffix: '</w>',
      fuse_unk: false, byte_fallback: false, vocab: vocabObj, merges: bpe.merges,
    },
  };
  const special = { bos_token: SOT, eos_token: EOT, unk_token: EOT, pad_token: EOT };
  const config = {
    tokenizer_class: 'CLIPTokenizer', model_max_length: 77, do_lower_case: true, errors: 'replace', add_prefix_space: false,
    clean_up_tokenization_spaces: true, ...special,
  };
  return {
    'tokenizer.json': JSON.stringify(tokenizer),
    'tokenizer_config.json': JSON.stringify(config, null, 2) + '\n',
    'special_tokens_map.json': JSON.stringify(special, null, 2) + '\n',
    'vocab.json': JSON.stringify(vocabObj),
    'merges.txt': '#version: 0.2\n' + bpe.merges.join('\n') + '\n',
  };
}
