/**
 * The extension host's model service, free of the `vscode` module so it can be tested directly:
 * loads the configured model and steering vector lazily on the first request, keeps one model
 * resident, frees it when the model settings change or after `keepAliveMinutes` without requests
 * (as Ollama's keep_alive does: a loaded model holds hundreds of MB of the editor's memory), queues
 * requests so only one runs at a time, and reports its state (idle / loading / generating /
 * extracting) for the status bar.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AskRequest, AskResult } from '../engine/ask';
import type { LoadedModel, LoadProgress, loadModel as engineLoadModel } from '../engine/model/loadModel';
import type { SteeringVector } from '../engine/steering/steeringVector';
import type { PrefillCache } from '../engine/generation/prefillCache';
import { KvsteerError, isKvsteerError } from '../engine/util/errors';
import { engine } from './engine';
import { DEFAULT_SETTINGS, KvsteerSettings } from '../config/settingsSchema';
import { RequestQueue } from './requestQueue';

export type ServiceState = 'idle' | 'loading' | 'generating' | 'extracting';

export interface ServiceDeps {
  /** Cache root for GGUF imports and hub downloads. */
  cacheDir: string;
  /** Folders whose manifest.json lists selectable vectors (shipped, then user-extracted). */
  vectorDirs: string[];
  log: (message: string) => void;
  /** Injected for tests; defaults to the engine's loader. */
  loadModel?: typeof engineLoadModel;
}

export interface LoadReporter {
  (p: LoadProgress): void;
}

export class SteeringService {
  /** The resident model, with its last prefill (a rerun at another strength or a retry skips it). */
  private model?: { key: string; setting: string; loaded: LoadedModel; prefills: PrefillCache };
  /** The vector in use; `stamp` tells when its file or the manifests changed on disk since. */
  private vectorCache?: { key: string; id: string; vector: SteeringVector; file: string; stamp: string };
  private readonly queue = new RequestQueue();
  private stateValue: ServiceState = 'idle';
  private readonly listeners = new Set<(s: ServiceState) => void>();
  private idleUnload?: ReturnType<typeof setTimeout>;
  /** The settings of the last settingsChanged: what a check queued behind a load compares with. */
  private latestSettings?: KvsteerSettings;
  /** Load warnings logged so far, by model setting: every reload of the file repeats them. */
  private readonly warned = new Set<string>();

  constructor(private readonly deps: ServiceDeps) {}

  get state(): ServiceState {
    return this.stateValue;
  }

  get pendingRequests(): number {
    return this.queue.pending;
  }

  get loadedModel(): LoadedModel | undefined {
    return this.model?.loaded;
  }

  /** The `kvsteer.model` value the resident model was loaded for (the setting may have moved on since). */
  get loadedModelSetting(): string | undefined {
    return this.model?.setting;
  }

  onStateChange(listener: (s: ServiceState) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private setState(s: ServiceState): void {
    if (s === this.stateValue) return;
    this.stateValue = s;
    this.notify();
  }

  /** Tells the listeners the state or the loaded model changed. */
  private notify(): void {
    for (const l of this.listeners) l(this.stateValue);
  }

  /**
   * Frees the model after `minutes` without requests (none when negative). Called when a request
   * ends with none waiting; every new request cancels it.
   */
  private scheduleIdleUnload(minutes: number): void {
    this.cancelIdleUnload();
    if (minutes < 0 || !this.model) return;
    this.idleUnload = setTimeout(() => {
      this.idleUnload = undefined;
      void this.queue.run(() => this.unloadModel(`after ${minutes} min without requests (kvsteer.keepAlive)`));
    }, minutes * 60_000);
    // Never what keeps a process (the CLI's, a test's) alive.
    this.idleUnload.unref?.();
  }

  private cancelIdleUnload(): void {
    clearTimeout(this.idleUnload);
    this.idleUnload = undefined;
  }

  /**
   * Runs `job` when earlier requests are done, with the configured model (and vector) loaded. With
   * `vectorOptional`, a vector that cannot be used is passed to the job as its error instead of
   * failing the request (a comparison still gives its baseline).
   */
  run<T>(
    settings: KvsteerSettings,
    opts: { needVector: boolean; vectorOptional?: boolean; onLoad?: LoadReporter; signal?: AbortSignal; activity?: 'generating' | 'extracting' },
    job: (m: LoadedModel, v?: SteeringVector, vectorError?: Error) => Promise<T>,
  ): Promise<T> {
    this.cancelIdleUnload();
    let started = false;
    const queued = this.queue.run(async () => {
      started = true;
      try {
        if (opts.signal?.aborted) throw new KvsteerError('CANCELLED', 'the request was cancelled');
        const model = await this.ensureModel(settings, opts.onLoad, opts.signal);
        let vector: SteeringVector | undefined;
        let vectorError: Error | undefined;
        if (opts.needVector) {
          try {
            vector = await this.ensureVector(settings, model);
          } catch (e) {
            if (!opts.vectorOptional || !isKvsteerError(e)) throw e;
            vectorError = e;
          }
        }
        this.setState(opts.activity ?? 'generating');
        return await job(model, vector, vectorError);
      } finally {
        this.setState('idle');
        // This job still counts as pending: more than one means others wait, and they reschedule.
        if (this.queue.pending <= 1) this.scheduleIdleUnload(settings.keepAliveMinutes);
      }
    });
    const signal = opts.signal;
    if (!signal) return queued;
    // Cancelled while it waits for its turn, a request ends now, not once the requests before it
    // are done (its turn then passes at once); once started, the job itself stops and answers.
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        if (!started) reject(new KvsteerError('CANCELLED', 'the request was cancelled'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      void queued.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * The main job for the webview and the chat participant. A comparison whose vector cannot be used
   * (none fits the model) still answers the baseline, and says why the steered side is missing.
   */
  ask(
    settings: KvsteerSettings,
    req: Omit<AskRequest, 'vector' | 'strength' | 'offsetToken' | 'maxNewTokens' | 'decoding'> & { cV?: number },
    onLoad?: LoadReporter,
  ): Promise<AskResult & { vectorId?: string; steeredError?: string }> {
    const needVector = req.mode !== 'baseline';
    const t0 = performance.now();
    const cold = !this.model;
    let first = true;
    const onToken: AskRequest['onToken'] = (side, e) => {
      if (first) {
        first = false;
        this.deps.log(`Time to first token: ${(performance.now() - t0).toFixed(0)} ms (${cold ? 'cold: model loaded by this request' : 'warm'})`);
      }
      req.onToken?.(side, e);
    };
    return this.run(settings, { needVector, vectorOptional: req.mode === 'compare', onLoad, signal: req.signal }, async (model, vector, vectorError) => {
      const eng = await engine();
      // The vector's strength for this decoding (with a repeat penalty it may record a higher one).
      const strength = vector && eng.strengthFor(vector.meta.recommended, settings.repeatPenalty, { cK: settings.cK, cV: req.cV ?? settings.cV, layers: settings.layers });
      const mode = vectorError ? 'baseline' : req.mode;
      const result = await eng.ask(model, { ...req, mode, onToken, vector, strength, prefillCache: this.model?.prefills, offsetToken: settings.offsetToken ?? undefined, maxNewTokens: settings.maxNewTokens, decoding: settings.decoding, stopOnRepetition: settings.stopOnRepetition, repeatPenalty: settings.repeatPenalty });
      return { ...result, vectorId: vector ? this.vectorCache?.id : undefined, steeredError: vectorError?.message };
    });
  }

  private async ensureModel(settings: KvsteerSettings, onLoad?: LoadReporter, signal?: AbortSignal): Promise<LoadedModel> {
    if (this.model && this.holds(settings)) return this.model.loaded;
    await this.unloadModel();
    this.setState('loading');
    const t0 = performance.now();
    this.deps.log(`Loading model ${settings.model}`);
    const eng = await engine();
    const load = this.deps.loadModel ?? eng.loadModel;
    const loaded = await load(settings.model, {
      cacheDir: this.deps.cacheDir,
      precision: settings.precision,
      threads: settings.threads,
      onProgress: (p) => {
        onLoad?.(p);
      },
      onWarning: (m) => this.warnOnce(settings.model, m),
      signal,
      // A forward pass then never holds the extension host's thread, which the editor's other
      // extensions and UI requests share.
      sessionThread: 'worker',
    });
    this.model = { key: modelKey(settings, loaded), setting: settings.model, loaded, prefills: new eng.PrefillCache() };
    this.deps.log(`Loaded ${loaded.name} in ${((performance.now() - t0) / 1000).toFixed(2)} s (import ${(loaded.timings.importMs / 1000).toFixed(2)} s${loaded.timings.converted ? ', converted now' : ''})`);
    return loaded;
  }

  /** Logs a load warning the first time this model gives it (a new one of the same file too). */
  private warnOnce(model: string, message: string): void {
    const key = JSON.stringify([model, message]);
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.deps.log(`Warning: ${message}`);
  }

  /**
   * The configured vector. When the setting still names the default vector and that one was made
   * for another model, a vector listed for the loaded model (one the user extracted, or another
   * shipped one) takes its place.
   */
  private async ensureVector(settings: KvsteerSettings, model: LoadedModel): Promise<SteeringVector> {
    const key = JSON.stringify([settings.vector, this.model?.key]);
    const cached = this.vectorCache;
    if (cached?.key === key && cached.stamp === this.vectorStamp(cached.file)) return cached.vector;
    const { resolveVectorFile, findVectorForModel, vectorModelNote } = await engine();
    let id = settings.vector;
    let vector: SteeringVector;
    let file: string;
    try {
      ({ vector, file } = resolveVectorFile(settings.vector, this.deps.vectorDirs, model));
    } catch (e) {
      const fits = settings.vector === DEFAULT_SETTINGS.vector && isKvsteerError(e) && e.code === 'VECTOR_MISMATCH' ? findVectorForModel(this.deps.vectorDirs, model) : undefined;
      if (!fits) throw isKvsteerError(e) ? new KvsteerError(e.code, withVectorHint(e.message), { cause: e }) : e;
      this.deps.log(`The default vector ${settings.vector} is for another model; using ${fits.id}, which fits ${model.name}`);
      ({ id, vector, file } = fits);
    }
    if (cached?.key === key) this.deps.log(`Steering vector ${id} changed on disk; reading it again`);
    this.vectorCache = { key, id, vector, file, stamp: this.vectorStamp(file) };
    this.deps.log(`Using steering vector ${id} (${vector.meta.name}, made for ${vector.meta.model.name})`);
    const note = vectorModelNote(vector, model);
    if (note) this.deps.log(`Note: ${note}`);
    return vector;
  }

  /**
   * What the vector in use was read from, as it is on disk now: its file and every manifest (a
   * vector extracted again under the same name replaces its file, with the same setting value).
   * Files are written by rename, so a new one has a new inode; a few stats per request.
   */
  private vectorStamp(file: string): string {
    const stat = (p: string) => {
      try {
        const s = fs.statSync(p);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return '-';
      }
    };
    return [file, ...this.deps.vectorDirs.map((d) => path.join(d, 'manifest.json'))].map(stat).join('|');
  }

  /** Frees the resident model (when the model setting changes, after the keep-alive time, or on dispose). */
  async unloadModel(why?: string): Promise<void> {
    const old = this.model;
    this.model = undefined;
    this.vectorCache = undefined;
    if (old) {
      this.deps.log(`Freeing model ${old.loaded.name}${why ? ` ${why}` : ''}`);
      // The status bar hears at once that no model is loaded; the memory goes back when the
      // session's worker thread has ended.
      this.notify();
      await old.loaded.dispose();
    }
  }

  /**
   * Frees the resident model now, at the user's request (after any running or queued request).
   * Returns the name of the model freed, or undefined when none was loaded.
   */
  async freeModel(): Promise<string | undefined> {
    this.cancelIdleUnload();
    return this.queue.run(async () => {
      const name = this.model?.loaded.name;
      await this.unloadModel('at your request (KV Steer: Free model memory)');
      return name;
    });
  }

  /** Called when settings change: frees the model if its identity changed (queued behind running work). */
  async settingsChanged(settings: KvsteerSettings): Promise<void> {
    this.latestSettings = settings;
    if (this.model && !this.holds(settings)) await this.queue.run(() => this.unloadModel());
    else if (!this.model && this.queue.pending > 0) {
      // A model may be loading under the settings before: once the work under way is done, it is
      // freed if the settings (the latest by then) name another one, or else kept for keepAlive.
      await this.queue.run(async () => {
        const latest = this.latestSettings ?? settings;
        if (this.model && !this.holds(latest)) await this.unloadModel();
        else if (this.queue.pending <= 1) this.scheduleIdleUnload(latest.keepAliveMinutes);
      });
    }
    // A changed keep-alive counts from now.
    else if (this.model && this.queue.pending === 0) this.scheduleIdleUnload(settings.keepAliveMinutes);
  }

  /** Whether the resident model is the one these settings load. */
  private holds(settings: KvsteerSettings): boolean {
    return !!this.model && this.model.key === modelKey(settings, this.model.loaded);
  }

  async dispose(): Promise<void> {
    this.cancelIdleUnload();
    await this.queue.run(() => this.unloadModel());
    this.listeners.clear();
  }
}

/**
 * What identifies the loaded model: another value of any of these settings needs another load.
 * kvsteer.precision is the arithmetic of GGUF imports: it counts only for a model imported from one.
 */
function modelKey(settings: KvsteerSettings, loaded: LoadedModel): string {
  return JSON.stringify([settings.model, loaded.source.kind === 'gguf' ? settings.precision : null, settings.threads]);
}

/** Adds what the user can do about a vector that does not fit. */
function withVectorHint(message: string): string {
  return `${message}. Extract one for this model with "KV Steer: Extract steering vector from examples…", or choose another with "KV Steer: Select steering vector…".`;
}
