/**
 * The engine's public entry: everything the CLI, the extension and other callers use. The
 * extension loads this module lazily (its own bundle, dist/engine.js) on the first request, so
 * ONNX Runtime and transformers.js never load at activation.
 */
export { KvsteerError, isCancellation, isKvsteerError } from './util/errors';
export type { KvsteerErrorCode } from './util/errors';
export { loadModel } from './model/loadModel';
export type { LoadedModel, LoadOptions, LoadProgress } from './model/loadModel';
export { parseModelSource, defaultCacheDir } from './model/modelSource';
export { findLocalGgufs } from './model/localModels';
export type { LocalGguf } from './model/localModels';
export { importGguf } from './gguf/importGguf';
export type { ImportPrecision } from './gguf/importGguf';
export { generate, msPerToken } from './generation/generate';
export type { GenerateRequest, GenerationResult, TokenEvent } from './generation/generate';
export { PrefillCache } from './generation/prefillCache';
export type { Decoding } from './generation/sampler';
export { ask } from './ask';
export type { AskMode, AskRequest, AskResult, AskSide, AskSideResult } from './ask';
export { generateSteered, steerCache, checkStrength } from './steering/applySteering';
export { MAX_COEFFICIENT } from './steering/limits';
export { recommendedStrength, strengthFor } from './steering/recommendedStrength';
export { DEFAULT_DEMOS, parseReasoningItems, buildContrastivePairs, checkEnoughItems } from './steering/contrastivePairs';
export { createSteeringVector } from './steering/createVector';
export { BUNDLED_EXAMPLES } from './steering/bundledExamples';
export { extractDirections } from './steering/extract';
export { loadVector, saveVector } from './steering/vectorFile';
export { readManifest, saveListedVector, upsertManifest } from './steering/vectorManifest';
export { resolveVector, resolveVectorFile, findVectorForModel } from './steering/findVector';
export { checkVectorFitsModel, modelFingerprint, vectorModelNote } from './steering/steeringVector';
export type { SteeringVector } from './steering/steeringVector';
export { runEval } from './eval/runEval';
export { summarize, toHtml, toMarkdown } from './eval/summarize';
export { KVSTEER_VERSION } from './version';
