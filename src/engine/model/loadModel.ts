/**
 * Loads a model for generation from a hub id, a local folder or a GGUF file. GGUF files are
 * imported once into a cached folder; hub ids are downloaded by transformers.js into its cache with
 * progress events. Every source then takes the same path: transformers.js opens the folder
 * (tokenizer, config, ONNX session) and the engine drives the session itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImportPrecision, importGguf, ImportProgress } from '../gguf/importGguf';
import { KvsteerError, throwIfAborted } from '../util/errors';
import { ChatTemplateSource, ChatTokenizer } from './chatTokenizer';
import { ModelConfig, readJsonObject, readModelConfig } from './modelConfig';
import { ModelSource, defaultCacheDir, describeSource, parseModelSource } from './modelSource';
import { GraphGeometry, OnnxBackend, OrtSessionLike, graphGeometryMismatch } from './onnxBackend';
import { WorkerSession } from './workerSession';
import { HUB_GRAPH, brokenTransferUrl, cachedFiles, downloadHubFile, downloadReporter, hubFileUrl, namingTransfers, networkFailure, removeStaleDownloads, requireHubGraph, requireRoomForDownload } from './hubDownload';

export interface LoadProgress {
  stage: 'download' | 'import' | 'load' | 'ready';
  /** 0..1 when known; for downloads, over the bytes of every file fetched. */
  fraction?: number;
  message: string;
  /** The file being downloaded (download stage). */
  file?: string;
}

export interface LoadOptions {
  /** Cache root for GGUF imports and hub downloads. Default: defaultCacheDir(). */
  cacheDir?: string;
  /** Arithmetic of graphs imported from GGUF (default 'exact'). */
  precision?: ImportPrecision;
  /** CPU threads for ONNX Runtime (0 = its default). */
  threads?: number;
  onProgress?: (p: LoadProgress) => void;
  /** Problems in a GGUF file that loading works around (ImportOptions.onWarning). */
  onWarning?: (message: string) => void;
  signal?: AbortSignal;
  /**
   * Where ONNX Runtime runs the model: 'main' (default) on the calling thread, as the CLI does;
   * 'worker' in a worker thread (WorkerSession), so the caller's event loop stays free during a
   * forward pass: the extension host's, which every other extension and the editor's UI share.
   */
  sessionThread?: 'main' | 'worker';
}

export interface LoadedModel {
  /** Display name (from the GGUF metadata, the hub id or the folder name). */
  name: string;
  /** Identity used to match steering vectors: hub id, the GGUF file's name (an Ollama blob's general.name) or folder name. */
  id: string;
  /**
   * SHA-256 of the GGUF file the model came from (a GGUF, or a folder kvsteer imported one into):
   * the same weights whatever the file is called or wherever it lies. Absent for other folders and hub ids.
   */
  sha256?: string;
  source: ModelSource;
  folder: string;
  config: ModelConfig;
  tokenizer: ChatTokenizer;
  backend: OnnxBackend;
  timings: { importMs: number; loadMs: number; converted: boolean };
  dispose(): Promise<void>;
}

type Transformers = typeof import('@huggingface/transformers', { with: { 'resolution-mode': 'import' } });
let transformersModule: Promise<Transformers> | undefined;

/** transformers.js is loaded on first use only (it is large; the extension must activate fast). */
function transformers(): Promise<Transformers> {
  transformersModule ??= import('@huggingface/transformers');
  return transformersModule;
}

export async function loadModel(spec: string | ModelSource, opts: LoadOptions = {}): Promise<LoadedModel> {
  const source = typeof spec === 'string' ? parseModelSource(spec) : spec;
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const t0 = performance.now();
  let folder: string;
  let name: string;
  let id: string;
  let sha256: string | undefined;
  let converted = false;
  let importMs = 0;
  const tf = await transformers();
  const hubCache = path.join(cacheDir, 'hub');
  tf.env.cacheDir = hubCache;
  tf.env.fetch = namingTransfers(tf.env.fetch);
  if (source.kind === 'gguf') {
    const r = await importGguf(source.path, {
      cacheDir: path.join(cacheDir, 'models'),
      precision: opts.precision,
      signal: opts.signal,
      onWarning: opts.onWarning,
      onProgress: (p: ImportProgress) => opts.onProgress?.({ stage: 'import', fraction: p.fraction, message: p.message }),
    });
    folder = r.folder;
    sha256 = r.sha256;
    converted = r.converted;
    importMs = performance.now() - t0;
    name = path.basename(source.path, path.extname(source.path));
    // An Ollama blob is named by its digest: the GGUF's own general.name says more.
    if (/^sha256-[0-9a-f]{64}$/.test(name)) name = importRecord(folder).name ?? name;
    id = name;
  } else if (source.kind === 'folder') {
    folder = source.path;
    name = path.basename(folder);
    id = name;
    sha256 = importRecord(folder).sha256;
  } else {
    folder = source.id;
    name = source.id;
    id = source.id;
  }
  throwIfAborted(opts.signal, 'model loading');
  const t1 = performance.now();
  opts.onProgress?.({ stage: 'load', message: `Loading ${name}` });
  const local = source.kind !== 'hub';
  const inWorker = opts.sessionThread === 'worker';
  // Checked here so a broken folder is one error naming the file, not transformers.js's TypeError.
  const localConfig = local ? checkLocalFolder(folder) : undefined;
  const sessionOptions = {
    intraOpNumThreads: opts.threads ?? 0,
    interOpNumThreads: 1,
    logSeverityLevel: 3 as const,
    // ONNX Runtime's threads otherwise spin between (and after) calls: prefill and decode speed
    // are the same without it, but the editor gets CPU time back while an answer streams.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
  /** Tokenizer, chat template and model; `online` lets transformers.js fetch what its cache lacks. */
  const fromPretrained = async (online: boolean) => {
    const graph = path.join(hubCache, folder, HUB_GRAPH);
    const fetchGraph = source.kind === 'hub' && !fs.existsSync(graph);
    if (fetchGraph) {
      if (!online) throw new tf.ModelFileNotFoundError(`${HUB_GRAPH} is not in the cache`);
      await requireHubGraph(source.id, hubHost(tf), async (f) => (await tf.ModelRegistry.get_file_metadata(source.id, f)).exists);
    }
    if (online && source.kind === 'hub') {
      await requireRoomForDownload(source.id, path.join(hubCache, source.id), async (f) => {
        const m = await tf.ModelRegistry.get_file_metadata(source.id, f);
        return m.exists && !m.fromCache ? (m.size ?? 0) : 0;
      });
    }
    // Reads of local and cached files come as progress events too; only the online pass reports.
    const progress_callback = online && source.kind === 'hub' ? downloadReporter(source.id, cachedFiles(path.join(hubCache, source.id)), (p) => opts.onProgress?.(p)) : () => undefined;
    const options = { local_files_only: !online, progress_callback };
    const tokenizer = await tf.AutoTokenizer.from_pretrained(folder, options);
    const templateSource = ChatTokenizer.tokenizerHasTemplate(tokenizer) ? {} : await chatTemplateFile(tf, source, folder, options);
    if (fetchGraph) {
      const url = hubFileUrl(tf.env.remoteHost, tf.env.remotePathTemplate, folder, HUB_GRAPH);
      await downloadHubFile(tf.env.fetch, url, HUB_GRAPH, graph, progress_callback, process.env.HF_TOKEN ?? process.env.HF_ACCESS_TOKEN);
    }
    // A local graph bound for the worker is opened there only (transformers.js would open it here
    // too); a hub one needs transformers.js for the download.
    const model = inWorker && local ? undefined : await tf.AutoModelForCausalLM.from_pretrained(folder, { ...options, dtype: 'fp32', session_options: sessionOptions });
    return { tokenizer, templateSource, model };
  };
  // A local graph opens in the worker while transformers.js reads the tokenizer here (the worker's
  // start and ONNX Runtime's import there take about 0.3 s).
  const opening = inWorker && local ? WorkerSession.open(path.join(folder, HUB_GRAPH), sessionOptions) : undefined;
  // Settled here too, so a load that fails first leaves no unhandled rejection behind.
  opening?.catch(() => undefined);
  let loaded: Awaited<ReturnType<typeof fromPretrained>>;
  try {
    if (local) loaded = await fromPretrained(false);
    else {
      // The cache first: a downloaded model loads offline (transformers.js would fetch the optional
      // generation_config.json and fail); the hub only for files the cache lacks.
      try {
        loaded = await fromPretrained(false);
      } catch (e) {
        if (!(e instanceof tf.ModelFileNotFoundError)) throw e;
        if (source.kind === 'hub') removeStaleDownloads(path.join(hubCache, source.id));
        loaded = await fromPretrained(true);
      }
    }
  } catch (e) {
    void opening?.then((ws) => ws.release());
    if (e instanceof KvsteerError) throw e;
    const cause = networkFailure(e);
    if (cause !== undefined && source.kind === 'hub') {
      const url = brokenTransferUrl(e);
      const repo = hubFileUrl(tf.env.remoteHost, tf.env.remotePathTemplate, source.id, '');
      const what = url ? `${url.startsWith(repo) ? url.slice(repo.length) : url} of ${source.id}` : source.id;
      throw new KvsteerError('MODEL_LOAD_FAILED', `cannot download ${what} from ${hubHost(tf)} (${cause}); offline? A model already downloaded loads from ${hubCache}`, { cause: e });
    }
    throw new KvsteerError('MODEL_LOAD_FAILED', `cannot load model ${describeSource(source)}: ${(e as Error).message}`, { cause: e });
  }
  const { tokenizer, templateSource } = loaded;
  let model = loaded.model;
  const modelDir = local ? folder : path.join(hubCache, folder);
  let config: ModelConfig;
  let backend: OnnxBackend;
  let session: OrtSessionLike | undefined;
  try {
    const raw = (model?.config ?? readJsonObject(path.join(modelDir, 'config.json'))) as unknown as Record<string, unknown>;
    config = localConfig ?? hubConfig(modelDir, raw);
    if (inWorker) {
      // transformers.js opened a downloaded graph here: the worker opens its own copy instead.
      await model?.dispose();
      model = undefined;
      session = await (opening ?? WorkerSession.open(path.join(modelDir, HUB_GRAPH), sessionOptions));
      throwIfAborted(opts.signal, 'model loading');
    } else {
      session = (model as unknown as { sessions: Record<string, OrtSessionLike> } | undefined)?.sessions.model;
    }
    if (!session) throw new KvsteerError('MODEL_LOAD_FAILED', `${describeSource(source)}: no decoder session`);
    checkGeometry(session, config, path.join(modelDir, 'config.json'), raw);
    backend = new OnnxBackend(session, config.numLayers, config.numKvHeads, config.headDim, config.vocabSize, config.hiddenSize);
  } catch (e) {
    // The session holds native memory: a model that fails its checks is released.
    await model?.dispose().catch(() => undefined);
    if (inWorker) await session?.release?.().catch(() => undefined);
    throw e;
  }
  opts.onProgress?.({ stage: 'ready', fraction: 1, message: `${name} ready` });
  return {
    name,
    id,
    ...(sha256 ? { sha256 } : {}),
    source,
    folder,
    config,
    tokenizer: new ChatTokenizer(tokenizer, templateSource),
    backend,
    timings: { importMs, loadMs: performance.now() - t1, converted },
    dispose: async () => {
      await (model ? model.dispose() : session.release?.());
    },
  };
}

/** Files transformers.js needs in a local folder; each JSON one must parse to an object. */
const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx'];

/** Checks a local model folder's files and reads its config, naming the first file that is wrong. */
function checkLocalFolder(folder: string): ModelConfig {
  for (const f of REQUIRED_FILES) {
    const file = path.join(folder, f);
    if (!fs.existsSync(file)) {
      throw new KvsteerError('MODEL_LOAD_FAILED', `${file} is missing (a model folder needs ${REQUIRED_FILES.join(', ')})`);
    }
  }
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) readJsonObject(path.join(folder, f));
  return readModelConfig(folder);
}

/** Newer Python transformers save the chat template here instead of in tokenizer_config.json. */
const CHAT_TEMPLATE_FILE = 'chat_template.jinja';

/**
 * The chat template of a model whose tokenizer has none: chat_template.jinja, which transformers.js
 * 4.3.2's AutoTokenizer does not read. Hub files come through its own download and cache.
 */
async function chatTemplateFile(tf: Transformers, source: ModelSource, folder: string, options: { local_files_only: boolean; progress_callback: (info: never) => void }): Promise<ChatTemplateSource> {
  if (source.kind === 'gguf') return { model: source.path, lookedIn: ['its tokenizer.chat_template metadata'] };
  if (source.kind === 'folder') {
    const file = path.join(folder, CHAT_TEMPLATE_FILE);
    const template = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
    return { template, model: folder, lookedIn: [path.join(folder, 'tokenizer_config.json'), file] };
  }
  // A processor with no components fetches just chat_template.jinja (fatal, so errors other than
  // "not there" are seen).
  class TemplateOnly extends tf.Processor {
    static override classes: string[] = [];
    static override uses_chat_template_file = true;
  }
  const found = { model: source.id, lookedIn: ['tokenizer_config.json', CHAT_TEMPLATE_FILE] };
  const fetchTemplate = async (local_files_only: boolean) => {
    const p = await TemplateOnly.from_pretrained(source.id, { ...options, local_files_only } as object);
    return { ...found, template: typeof p.chat_template === 'string' ? p.chat_template : undefined };
  };
  try {
    return await fetchTemplate(true);
  } catch (e) {
    if (!(e instanceof tf.ModelFileNotFoundError)) throw e;
  }
  // Not cached: the hub may have it. A model without one is still loaded (the first prompt says
  // what is missing), so a hub out of reach counts as no template here.
  try {
    return await fetchTemplate(false);
  } catch (e) {
    if (e instanceof tf.ModelFileNotFoundError || networkFailure(e) !== undefined) return found;
    throw e;
  }
}

function hubHost(tf: Transformers): string {
  try {
    return new URL(tf.env.remoteHost).host;
  } catch {
    return tf.env.remoteHost;
  }
}

const CONFIG_FIELD: Record<keyof GraphGeometry, string> = {
  numLayers: 'num_hidden_layers',
  numKvHeads: 'num_key_value_heads',
  headDim: 'head_dim',
  vocabSize: 'vocab_size',
};
/** What a field defaults to when config.json leaves it out. */
const CONFIG_DEFAULT: Partial<Record<keyof GraphGeometry, string>> = { numKvHeads: 'num_attention_heads', headDim: 'hidden_size / num_attention_heads' };

/** Refuses a config.json that disagrees with the graph's declared shapes, naming both values. */
function checkGeometry(session: OrtSessionLike, config: ModelConfig, configFile: string, raw: Record<string, unknown>): void {
  const m = graphGeometryMismatch(session, config);
  if (!m) return;
  const field = CONFIG_FIELD[m.field];
  const derived = raw[field] === undefined && CONFIG_DEFAULT[m.field] ? ` (absent, so ${CONFIG_DEFAULT[m.field]})` : '';
  throw new KvsteerError(
    'MODEL_LOAD_FAILED',
    `${configFile}: ${field} is ${m.configValue}${derived} but onnx/model.onnx has ${m.graphValue} ${m.where}; the config does not match the graph`,
  );
}

/** A hub model's config from its cached config.json, else from what transformers.js read. */
function hubConfig(cached: string, c: Record<string, unknown>): ModelConfig {
  return fs.existsSync(path.join(cached, 'config.json')) ? readModelConfig(cached) : configFromTransformers(c);
}

function configFromTransformers(c: Record<string, unknown>): ModelConfig {
  const n = (k: string) => (typeof c[k] === 'number' ? (c[k] as number) : undefined);
  const hidden = n('hidden_size') ?? 0;
  const heads = n('num_attention_heads') ?? 1;
  const eos = c.eos_token_id;
  return {
    modelType: String(c.model_type ?? 'unknown'),
    numLayers: n('num_hidden_layers') ?? 0,
    numHeads: heads,
    numKvHeads: n('num_key_value_heads') ?? heads,
    headDim: n('head_dim') ?? hidden / heads,
    hiddenSize: hidden,
    vocabSize: n('vocab_size') ?? 0,
    maxPositions: n('max_position_embeddings') ?? 2048,
    eosTokenIds: Array.isArray(eos) ? (eos as number[]) : typeof eos === 'number' ? [eos] : [],
    bosTokenId: n('bos_token_id'),
  };
}

/** general.name and the GGUF's SHA-256 as a kvsteer import recorded them in config.json, where it did. */
function importRecord(folder: string): { name?: string; sha256?: string } {
  try {
    const k = (JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8')) as { kvsteer?: { name?: unknown; sha256?: unknown } }).kvsteer;
    return {
      name: typeof k?.name === 'string' && k.name.trim() ? k.name.trim() : undefined,
      sha256: typeof k?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(k.sha256) ? k.sha256 : undefined,
    };
  } catch {
    return {};
  }
}
