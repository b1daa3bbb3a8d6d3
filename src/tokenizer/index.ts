// v2l/tokenizer: the V2L tokenizer (load, encode, decode, reconstruct), its weights files and the
// import of the reference's official artefacts. Node edge.
export { V2LTokenizer, isFailure, type LoadTokenizerOptions, type TokenizerParts, type EncodedImage, type EncodeFailure, type EncodeResult, type GlobalEncoding, type Reconstruction } from './tokenizer.js';
export { loadTokenizer } from './load.js';
export { importOfficial, officialLayout, type ImportOptions, type ImportReport, type OfficialFiles } from './official.js';
export { readTokenizerWeights, parseConfigHint, readWeightsMetadata, weightsMetadata, TOKENIZER_FORMAT, WEIGHTS_METADATA_VERSION, type TokenizerWeights, type WeightsMetadata, type ReadWeightsOptions } from './weights.js';
