// v2l/codebook: building the local and global codebooks for any LLM and CLIP, the codebook package, and
// interpreting an image's embedding. Node edge; the math (render, expand, filter) is also in v2l/core.
export { buildCodebook, resolveTemplates, reportMarkdown, checkKept, type BuildOptions, type BuildReport, type TemplateSet } from './build.js';
export { loadCodebook, readManifest, resolveCodebookDir, writeCodebook, checkManifest, excludedLocalRows, LOCAL_KEY, GLOBAL_KEY, type Codebook, type CodebookManifest, type CodebookCheck, type CodebookContents, type GlobalEntry } from './package.js';
export { buildLocalCodebook, type LocalCodebook } from './local.js';
export { FileExpansionJournal } from './journal.js';
export { renderToken, renderVocabulary, candidateText, tokenStyleOf, detectTokenStyle, isSpecialToken, type TokenStyle, type CandidateStyle, type RenderVocab } from './render.js';
export { expandVocabulary, expansionCandidates, type Expansion, type ExpansionBatch, type ExpansionJournal, type ExpandOptions, type ExpandStats, type Candidate } from './expand.js';
export { countHits, HitCounter, selectByCount, type KeepRule, type Similarity } from './filter.js';
export { interpretEmbedding, type Interpretation } from './interpret.js';
