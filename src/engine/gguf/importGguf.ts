/**
 * Converts a GGUF file into a Hugging Face–layout folder (config.json, generation_config.json,
 * tokenizer.json, tokenizer_config.json, onnx/model.onnx + external data) that the model loader
 * opens like any other folder. The folder lives in a cache keyed by the file's SHA-256 and the
 * converter version; it is built in a temporary folder and renamed at the end, so a failed or
 * cancelled import leaves nothing behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildFolderAtomic } from '../util/atomicWrite';
import { KvsteerError, throwIfAborted } from '../util/errors';
import { sha256File } from '../util/fileHash';
import { Steps, giveTurn, runSteps, runStepsPaced } from '../util/steps';
import { LlamaSpec, llamaGraphSteps } from '../onnx/llamaGraph';
import { DEQUANTIZABLE } from './dequantize';
import { ggmlTypeName } from './ggmlTypes';
import { GgufFile, openGgufSteps, metaNumber, metaString } from './ggufFile';
import { describeTensorTypes, llamaSpecFromGguf, llamaWeightsSteps } from './llamaFromGguf';
import { GgufTokenizer, checkTokenizerHeader, tokenizerSteps } from './tokenizerFromGguf';

/** Bump when the generated folder changes, so old cache entries are rebuilt (4: Q4_K blocks stay 4-bit; 5: Q8_0 embeddings stay 8-bit; 6: Q6_K embeddings too; 7: attention reads the cache in place; 8: no present.* outputs; 9: exact 8-bit weights as two 4-bit MatMulNBits, Q6_K and Q5_* blocks stay packed; 10: llama.cpp's end-of-generation tokens by text; 11: tokenizer: the Llama 3 family's ignore_merges and BOS default, SentencePiece's BOS default, "<unk>" as a token, vocabulary entries named like object properties; 12: empty tokens named [EMPTY_<id>] as llama.cpp names them; 13: llama.cpp's SentencePiece default ids for BOS, EOS and unknown tokens absent or outside the vocabulary, ids stored as u64). */
export const CONVERTER_VERSION = 13;
export const IMPORT_MARKER = 'kvsteer-import.json';

export interface ImportProgress {
  stage: 'hashing' | 'reading' | 'weights' | 'writing' | 'done';
  /** 0..1 within the whole import. */
  fraction: number;
  message: string;
}

/**
 * How the graph does its arithmetic. 'exact': f32 activations in every matmul, the vocabulary
 * projection included, on the model's stored weights exactly (checked against an independent
 * reference forward). 'fast': int8-quantised activations in every block matmul and the head (like
 * llama.cpp's CPU path, not bit-identical to it): faster decoding, slightly different logits.
 */
export type ImportPrecision = 'exact' | 'fast';

export interface ImportOptions {
  cacheDir: string;
  /** Default 'exact'. */
  precision?: ImportPrecision;
  onProgress?: (p: ImportProgress) => void;
  /**
   * Problems in the file that the import works around (e.g. a special-token id outside the
   * vocabulary), one message each naming the file; reported on every import, cached or not.
   */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
}

export interface ImportResult {
  folder: string;
  sha256: string;
  /** False when the folder came from the cache. */
  converted: boolean;
  seconds: number;
}

/**
 * What kvsteer needs to load a GGUF, read from its header: the model spec and the tokenizer, and
 * every tensor of a type it can decode. Throws the error naming the file and the problem.
 */
export function checkGgufSupported(gguf: GgufFile): { spec: LlamaSpec; tokenizer: GgufTokenizer } {
  return runSteps(checkGgufSteps(gguf));
}

/** checkGgufSupported as steps (util/steps): it yields between its passes over the vocabulary. */
function checkGgufSteps(gguf: GgufFile): Steps<{ spec: LlamaSpec; tokenizer: GgufTokenizer }> {
  return checkGguf(gguf, tokenizerSteps);
}

/**
 * checkGgufSupported's verdict, and the same error, from the header alone (a file opened with
 * openGguf's stringArrays: 'count', ~1 ms instead of ~130 ms for a 49k vocabulary): all but a
 * vocabulary whose texts are wrong (a text repeated, a bad merge), which loading still refuses.
 * For listing many files (findLocalGgufs).
 */
export function checkGgufHeader(gguf: GgufFile): void {
  runSteps(
    checkGguf(gguf, function* (g) {
      checkTokenizerHeader(g);
    }),
  );
}

function* checkGguf<T>(gguf: GgufFile, tokenizerCheck: (gguf: GgufFile) => Steps<T>): Steps<{ spec: LlamaSpec; tokenizer: T }> {
  // llama.cpp's gguf-split shards: the first holds the metadata but only some of the tensors.
  const parts = metaNumber(gguf, 'split.count', 1);
  if (parts > 1) {
    const part = metaNumber(gguf, 'split.no', 0) + 1;
    throw new KvsteerError('GGUF_UNSUPPORTED', `${gguf.path}: part ${part} of a GGUF split into ${parts} files; kvsteer reads single-file GGUFs (\`llama-gguf-split --merge\` joins them)`);
  }
  const spec = llamaSpecFromGguf(gguf);
  yield;
  const tokenizer = yield* tokenizerCheck(gguf);
  // Every prompt goes through the chat template: a base model's file would import, then fail on
  // its first question.
  const template = gguf.metadata.get('tokenizer.chat_template');
  if (typeof template !== 'string' || !template.trim()) {
    throw new KvsteerError('GGUF_UNSUPPORTED', `${gguf.path}: no chat template (tokenizer.chat_template): kvsteer needs an instruction-tuned (chat) model`);
  }
  const bad = [...gguf.tensors.values()].find((t) => !DEQUANTIZABLE.has(t.type));
  if (bad) throw new KvsteerError('GGUF_UNSUPPORTED', `${gguf.path}: tensor ${bad.name}: tensor type ${ggmlTypeName(bad.type)} is not supported`);
  return { spec, tokenizer };
}

export async function importGguf(file: string, opts: ImportOptions): Promise<ImportResult> {
  const t0 = performance.now();
  const report = (stage: ImportProgress['stage'], fraction: number, message: string) => opts.onProgress?.({ stage, fraction, message });
  if (!fs.existsSync(file)) throw new KvsteerError('FILE_NOT_FOUND', `${file}: no such file`);
  // The import lets the event loop run every few milliseconds (in VS Code every extension shares
  // this thread) and stops there when cancelled.
  const paced = <T>(steps: Steps<T>) => runStepsPaced(steps, { signal: opts.signal, what: 'GGUF import' });
  // Validate the header first: a corrupt or unsupported file fails fast, before any hashing.
  const gguf = await paced(openGgufSteps(file));
  const { spec, tokenizer } = await paced(checkGgufSteps(gguf));
  tokenizer.warnings.forEach((w) => opts.onWarning?.(w));
  report('hashing', 0.02, `Hashing ${path.basename(file)}`);
  const sha256 = await sha256File(file, opts.cacheDir, opts.signal);
  const precision = opts.precision ?? 'exact';
  // One folder per file, precision and converter version; older versions' folders share the stem.
  const stem = `gguf-${sha256.slice(0, 16)}-${precision}-v`;
  const folder = path.join(opts.cacheDir, `${stem}${CONVERTER_VERSION}`);
  if (isCompleteImport(folder)) {
    removeOlderImports(opts.cacheDir, stem);
    report('done', 1, 'Using the cached import');
    return { folder, sha256, converted: false, seconds: (performance.now() - t0) / 1000 };
  }
  throwIfAborted(opts.signal, 'GGUF import');
  const outcome = await buildFolderAtomic(folder, async (tmp) => {
    report('reading', 0.05, `Reading weights (${describeTensorTypes(gguf)})`);
    const weights = await paced(
      llamaWeightsSteps(gguf, spec, (done, total) => {
        throwIfAborted(opts.signal, 'GGUF import');
        report('weights', 0.05 + 0.6 * (done / total), `Converting layer ${done}/${total}`);
      }),
    );
    report('writing', 0.7, 'Writing the ONNX graph');
    const graph = await paced(llamaGraphSteps(spec, weights, { accuracyLevel: precision === 'exact' ? 0 : 4 }));
    fs.mkdirSync(path.join(tmp, 'onnx'));
    await paced(graph.saveSteps(path.join(tmp, 'onnx'), 'model.onnx', { source: path.basename(file), sha256 }));
    await giveTurn(opts.signal, 'GGUF import');
    const name = metaString(gguf, 'general.name', path.basename(file, '.gguf'));
    const json = (p: string, v: unknown) => fs.writeFileSync(path.join(tmp, p), JSON.stringify(v, null, 2));
    json('config.json', {
      architectures: [{ qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', gemma3: 'Gemma3ForCausalLM' }[spec.architecture ?? ''] ?? 'LlamaForCausalLM'],
      // Hugging Face's type for the text-only Gemma 3 ('gemma3' is its multimodal wrapper, whose
      // config transformers.js reads through a `text_config`).
      model_type: spec.architecture === 'gemma3' ? 'gemma3_text' : (spec.architecture ?? 'llama'),
      hidden_size: spec.hiddenSize,
      intermediate_size: spec.intermediateSize,
      num_hidden_layers: spec.numLayers,
      num_attention_heads: spec.numHeads,
      num_key_value_heads: spec.numKvHeads,
      head_dim: spec.headDim,
      rms_norm_eps: spec.rmsNormEps,
      rope_theta: spec.ropeTheta,
      max_position_embeddings: spec.maxPositions,
      vocab_size: spec.vocabSize,
      tie_word_embeddings: !gguf.tensors.has('output.weight'),
      bos_token_id: tokenizer.bosTokenId ?? null,
      eos_token_id: tokenizer.eosTokenIds.length === 1 ? tokenizer.eosTokenIds[0] : tokenizer.eosTokenIds,
      pad_token_id: tokenizer.padTokenId ?? null,
      torch_dtype: 'float32',
      'transformers.js_config': { use_external_data_format: true, dtype: 'fp32' },
      kvsteer: { name, source: path.basename(file), sha256, precision, converterVersion: CONVERTER_VERSION },
    });
    json('generation_config.json', {
      bos_token_id: tokenizer.bosTokenId ?? null,
      eos_token_id: tokenizer.eosTokenIds.length === 1 ? tokenizer.eosTokenIds[0] : tokenizer.eosTokenIds,
      pad_token_id: tokenizer.padTokenId ?? null,
    });
    await giveTurn(opts.signal, 'GGUF import');
    json('tokenizer.json', tokenizer.tokenizerJson);
    await giveTurn(opts.signal, 'GGUF import');
    json('tokenizer_config.json', tokenizer.tokenizerConfig);
    json(IMPORT_MARKER, { source: path.resolve(file), sha256, precision, converterVersion: CONVERTER_VERSION, importedAt: new Date().toISOString(), files: fileSizes(tmp) });
  }, isCompleteImport);
  removeOlderImports(opts.cacheDir, stem);
  // 'kept': another process (a second VS Code window, the CLI) imported the same file meanwhile and
  // may be loading from that folder already; it is the same conversion, so ours is dropped.
  report('done', 1, outcome === 'kept' ? 'Another process imported the same file first; using its folder' : 'Import complete');
  return { folder, sha256, converted: outcome === 'built', seconds: (performance.now() - t0) / 1000 };
}

/** Sizes of the files under `dir`, by path with "/". */
function fileSizes(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const st = fs.statSync(path.join(dir, f));
    if (st.isFile()) out[f.split(path.sep).join('/')] = st.size;
  }
  return out;
}

/**
 * Whether `dir` holds a whole import: a readable record, and every file it lists at the size it
 * lists. A folder whose files a crash or a damaged disk cut short is imported again rather than
 * failing every load (records written before sizes were kept are taken as they are).
 */
function isCompleteImport(dir: string): boolean {
  let files: unknown;
  try {
    files = (JSON.parse(fs.readFileSync(path.join(dir, IMPORT_MARKER), 'utf8')) as { files?: unknown }).files;
  } catch {
    return false;
  }
  if (files === undefined) return true;
  if (typeof files !== 'object' || files === null) return false;
  return Object.entries(files).every(([f, size]) => {
    try {
      return fs.statSync(path.join(dir, f)).size === size;
    } catch {
      return false;
    }
  });
}

/**
 * Imports of the same file by earlier converter versions are never read again (each version
 * rebuilds), and each is as large as the model: removed once this version's folder exists.
 */
function removeOlderImports(cacheDir: string, stem: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(cacheDir);
  } catch {
    return;
  }
  for (const e of entries) {
    const version = e.startsWith(stem) ? Number(e.slice(stem.length)) : NaN;
    if (Number.isInteger(version) && version < CONVERTER_VERSION) {
      try {
        fs.rmSync(path.join(cacheDir, e), { recursive: true, force: true });
      } catch {
        // In use elsewhere (Windows) or not ours to remove: it stays, as before.
      }
    }
  }
}
