// The weights-file metadata: one writer, one reader, the format version checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { paperConfig } from '../network/config.js';
import { readWeightsMetadata, weightsMetadata, TOKENIZER_FORMAT } from './weights.js';

test('weights metadata round-trips; a training checkpoint falls back to its train state; a newer format is refused', () => {
  const config = { ...paperConfig(), nLocal: 512, nGlobal: 64 };
  const md = weightsMetadata({ format: TOKENIZER_FORMAT, config, imageSize: 64, globalTokens: 21, source: 'official' });
  assert.deepEqual(readWeightsMetadata(md, 'a.safetensors'), { format: TOKENIZER_FORMAT, config, imageSize: 64, globalTokens: 21, source: 'official' });
  const old = { format: 'v2l-train-checkpoint/1', config: JSON.stringify(config), train: JSON.stringify({ imageSize: 32, loss: { kGlobal: 5 } }) };
  const r = readWeightsMetadata(old, 'b.safetensors');
  assert.equal(r.imageSize, 32);
  assert.equal(r.globalTokens, 5);
  assert.throws(() => readWeightsMetadata({ ...md, format: 'v2l-tokenizer/2' }, 'c.safetensors'), /c\.safetensors: metadata format "v2l-tokenizer\/2" is newer than this v2l reads \(version 1\); upgrade v2l/);
  assert.equal(readWeightsMetadata({}, 'd.safetensors').config, undefined, 'no configuration: the reader of the tensors infers it');
});
