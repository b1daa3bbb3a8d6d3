// v2l/tokenizer: the V2L tokenizer (load, encode, decode, reconstruct), its weights files and the
// import of the reference's official artefacts and the export into their layout. Node edge.
export { V2LTokenizer, isFailure, type LoadTokenizerOptions, type TokenizerParts, type EncodedImage, type EncodeFailure, type EncodeResult, type GlobalEncoding, type Reconstruction } from './tokenizer.js';
export { loadTokenizer } from './load.js';
export { importOfficial, officialLayout, type ImportOptions, type ImportReport, type OfficialFiles } from './official.js';
export { exportReference, readExportManifest, referenceMismatches, referenceFlags, referenceVqConfig, REFERENCE_FILES, EXPORT_MANIFEST, REFERENCE_EXPORT_FORMAT, type ExportReferenceOptions, type ExportReferenceReport, type ReferenceExportManifest, type ReferenceFlags } from './export-reference.js';
export { readTokenizerWeights, parseConfigHint, readWeightsMetadata, weightsMetadata, TOKENIZER_FORMAT, WEIGHTS_METADATA_VERSION, type TokenizerWeights, type WeightsMetadata, type ReadWeightsOptions } from './weights.js';
