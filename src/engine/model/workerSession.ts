/**
 * A model's ONNX Runtime session in a worker thread (ortWorker.ts), behind the `OrtSessionLike`
 * the backend drives. onnxruntime-node's `session.run` holds the JavaScript thread that calls it
 * for the whole pass: in the extension host that froze the editor (commands, typing into the chat)
 * for as long as each prefill call ran. Here the pass runs on the worker's thread, and so does the
 * rest of the backend's forward pass: the KV caches it makes stay in the worker, and a cache here
 * is a handle (KvCache.elsewhere) whose contents come back, by transfer, only when something here
 * reads or edits them (a steering edit, an extraction, a kept prefill).
 */
import * as path from 'node:path';
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type * as ort from 'onnxruntime-node';
import { KvsteerError } from '../util/errors';
import { KvCache, KvCacheHome, KvCacheLoan } from './kvCache';
import type { ForwardRequest, ForwardResult, OrtSessionLike } from './onnxBackend';
import type { BackendGeometry, CacheRef, Counted, FromWorker, Reclaimed, ToWorker } from './ortWorkerProtocol';

/** Beside this file in both builds: out/src/engine/model/ (tsc) and dist/ (the extension's bundles). */
export const WORKER_SCRIPT = path.join(__dirname, 'ortWorker.js');

/** Longest a synchronous request waits for the worker (it answers once the pass it is running ends). */
const REQUEST_TIMEOUT_MS = 30_000;

/** Cleared the first time Atomics.wait throws on this thread. */
let atomicsWaitAllowed = true;

type Answer = FromWorker & { kind: 'forwarded' | 'forwardFailed' };

export class WorkerSession implements OrtSessionLike {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (m: Answer) => void; reject: (e: Error) => void }>();
  private released?: Promise<void>;
  /** Why the worker is gone, once it is. */
  private dead?: Error;
  /** Tells the worker to free a cache whose handle here was garbage-collected. */
  private readonly handles = new FinalizationRegistry<number>((cacheId) => this.drop(cacheId));

  private constructor(
    private readonly worker: Worker,
    private readonly graph: string,
    private readonly sync: { port: import('node:worker_threads').MessagePort; signal: Int32Array },
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[] | undefined,
    readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[] | undefined,
  ) {
    worker.on('message', (m: FromWorker) => {
      if (m.kind !== 'forwarded' && m.kind !== 'forwardFailed') return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      p?.resolve(m);
    });
    const fail = (e: Error) => {
      this.dead ??= e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(new KvsteerError('MODEL_LOAD_FAILED', `the ONNX Runtime worker for ${graph} failed: ${e.message}`, { cause: e })));
    worker.on('exit', (code) => fail(new KvsteerError('MODEL_LOAD_FAILED', `the ONNX Runtime worker for ${graph} stopped (exit code ${code})`)));
    // Idle, the worker does not keep a process (the CLI's, a test's) alive; a pass under way does.
    worker.unref();
  }

  /** Opens `graph` (an .onnx file; external data beside it) in a new worker thread. */
  static async open(graph: string, options: ort.InferenceSession.SessionOptions, script = WORKER_SCRIPT): Promise<WorkerSession> {
    const worker = new Worker(script);
    const channel = new MessageChannel();
    const sync = { port: channel.port1, signal: new Int32Array(new SharedArrayBuffer(4)) };
    try {
      const opened = await new Promise<FromWorker & { kind: 'opened' }>((resolve, reject) => {
        const onExit = (code: number) => reject(new KvsteerError('MODEL_LOAD_FAILED', `the ONNX Runtime worker stopped while opening ${graph} (exit code ${code})`));
        worker.once('error', (e) => reject(new KvsteerError('MODEL_LOAD_FAILED', `the ONNX Runtime worker could not open ${graph}: ${e.message}`, { cause: e })));
        worker.once('exit', onExit);
        worker.once('message', (m: FromWorker) => {
          worker.off('exit', onExit);
          if (m.kind === 'opened') resolve(m);
          else reject(new KvsteerError('MODEL_LOAD_FAILED', `ONNX Runtime cannot open ${graph}: ${m.kind === 'openFailed' ? m.message : `unexpected answer ${m.kind}`}`));
        });
        const open: ToWorker = { kind: 'open', graph, options, sync: channel.port2, signal: sync.signal };
        worker.postMessage(open, [channel.port2]);
      });
      const meta = (m?: typeof opened.inputMetadata) => m as ort.InferenceSession.ValueMetadata[] | undefined;
      return new WorkerSession(worker, graph, sync, opened.inputNames, opened.outputNames, meta(opened.inputMetadata), meta(opened.outputMetadata));
    } catch (e) {
      channel.port1.close();
      await worker.terminate();
      throw e;
    }
  }

  /** The backend's forward passes run whole in the worker (`forwardInWorker`), never through here. */
  run(): Promise<Record<string, ort.Tensor>> {
    return Promise.reject(new Error('a worker session runs whole forward passes (forwardInWorker), not single session calls'));
  }

  /**
   * OnnxBackend.forward, run by an OnnxBackend in the worker over the session there. The cache it
   * starts from moves there unless it is there already; the result's cache stays there.
   */
  async forwardInWorker(req: ForwardRequest, geometry: BackendGeometry, prefillChunk: number): Promise<ForwardResult> {
    this.checkUsable();
    const id = this.nextId++;
    const outId = this.nextId++;
    const where = req.cache.residence;
    let cache: CacheRef;
    let loan: KvCacheLoan | undefined;
    if (where?.owner === this) cache = { kind: 'there', id: where.id };
    else if (req.cache.length === 0) cache = { kind: 'empty' };
    else {
      const cacheId = this.nextId++;
      // A cache of another model's worker comes back here first (moveOut reads it).
      loan = req.cache.moveOut(this.home(cacheId));
      cache = { kind: 'moved', id: cacheId, loan };
    }
    const msg: ToWorker = {
      kind: 'forward',
      id,
      geometry,
      prefillChunk,
      tokens: req.tokens,
      cache,
      outId,
      logitsToKeep: req.logitsToKeep,
      activationAdd: req.activationAdd && new Map(req.activationAdd),
      hiddenStateLayers: req.hiddenStateLayers && [...req.hiddenStateLayers],
      cancelled: req.cancelled,
    };
    const answer = new Promise<Answer>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    if (this.pending.size === 1) this.worker.ref();
    try {
      this.post(msg, loan?.buffers);
    } catch (e) {
      // Not sent (nothing was transferred): the cache stays here, and nothing waits for an answer.
      if (loan) req.cache.moveBack(loan);
      this.pending.delete(id);
      if (this.pending.size === 0) this.worker.unref();
      throw e;
    }
    if (cache.kind === 'moved') this.handles.register(req.cache, cache.id);
    const abort = () => this.post({ kind: 'abort', id });
    if (req.signal?.aborted) abort();
    else req.signal?.addEventListener('abort', abort, { once: true });
    let m: Answer;
    try {
      m = await answer;
    } finally {
      req.signal?.removeEventListener('abort', abort);
    }
    if (m.kind === 'forwardFailed') throw m.code ? new KvsteerError(m.code, m.message) : new Error(m.message);
    const out = KvCache.elsewhere(geometry.numLayers, geometry.numKvHeads, geometry.headDim, m.length, this.home(outId));
    this.handles.register(out, outId);
    return { logits: m.logits, cache: out, hiddenStates: m.hiddenStates };
  }

  /** How a handle here gets its cache's contents back from the worker. */
  private home(cacheId: number): KvCacheHome {
    return { owner: this, id: cacheId, reclaim: () => this.reclaim(cacheId), drop: () => this.drop(cacheId) };
  }

  /**
   * Takes a cache's contents back from the worker, synchronously (KvCache's reads and edits are):
   * the request goes out, this thread waits on a shared flag, and the answer is read off the sync
   * channel. The worker answers between passes, so a wait lasts at most the pass under way.
   */
  private reclaim(cacheId: number): KvCacheLoan | 'stale' {
    const r = this.request<Reclaimed>({ kind: 'reclaim', cacheId });
    if (r.cacheId !== cacheId) throw new Error(`the ONNX Runtime worker answered a KV cache reclaim out of turn (cache ${r.cacheId})`);
    if ('error' in r) throw new Error(r.error);
    return 'stale' in r ? 'stale' : r.loan;
  }

  /** How many KV caches the worker holds now (each one the engine has not freed). */
  cachesHeld(): number {
    return this.request<Counted>({ kind: 'count' }).caches;
  }

  /** Sends `m` and waits for the answer on the sync channel (see `reclaim`). */
  private request<T>(m: ToWorker): T {
    this.checkUsable();
    Atomics.store(this.sync.signal, 0, 0);
    this.post(m);
    const deadline = performance.now() + REQUEST_TIMEOUT_MS;
    if (atomicsWaitAllowed) {
      try {
        Atomics.wait(this.sync.signal, 0, 0, REQUEST_TIMEOUT_MS);
      } catch (e) {
        // A host may forbid blocking its main thread (as browsers' main threads do): poll instead.
        if (!(e instanceof TypeError)) throw e;
        atomicsWaitAllowed = false;
      }
    }
    // The worker posts the answer before it raises the flag, so after a wait it is there; polling
    // (only where waiting is forbidden) lasts as long as the worker takes to answer.
    for (;;) {
      const r = receiveMessageOnPort(this.sync.port);
      if (r) return r.message as T;
      if (this.dead) throw this.dead;
      if (performance.now() > deadline) {
        throw new KvsteerError('MODEL_LOAD_FAILED', `the ONNX Runtime worker for ${this.graph} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
      }
    }
  }

  private drop(cacheId: number): void {
    if (!this.released && !this.dead) this.post({ kind: 'drop', cacheId });
  }

  private checkUsable(): void {
    if (this.released) throw new KvsteerError('MODEL_LOAD_FAILED', `the session for ${this.graph} was released (the model was freed)`);
    if (this.dead) throw this.dead;
  }

  private post(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  /** Frees the session's memory and its caches, and ends the thread (once; later calls wait for the first). */
  release(): Promise<void> {
    this.released ??= (async () => {
      if (!this.dead) {
        this.worker.ref();
        await new Promise<void>((resolve) => {
          this.worker.once('exit', () => resolve());
          this.worker.on('message', (m: FromWorker) => m.kind === 'released' && resolve());
          this.post({ kind: 'release' });
        });
      }
      this.sync.port.close();
      await this.worker.terminate();
    })();
    return this.released;
  }
}
