/**
 * The worker thread that owns one model's ONNX Runtime session and the KV caches made with it (see
 * workerSession.ts). onnxruntime-node runs `session.run` on the calling JavaScript thread until the
 * pass is done; here that thread is this worker's, so the extension host's event loop stays free
 * while a long prompt is prefilled. Caches stay here between passes: a decode step sends a token
 * and an id, and gets logits back.
 */
import { MessagePort, parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { KvCache, KvCacheHome } from './kvCache';
import { OnnxBackend, OrtSessionLike } from './onnxBackend';
import { isKvsteerError } from '../util/errors';
import type { BackendGeometry, Counted, FromWorker, Reclaimed, ToWorker, WireValueMetadata } from './ortWorkerProtocol';

const port = parentPort;
if (!port) throw new Error('ortWorker.js runs as a worker thread only');

let session: ort.InferenceSession | undefined;
let sync: { port: MessagePort; signal: Int32Array } | undefined;
const backends = new Map<string, OnnxBackend>();
/** The caches the engine holds handles of, by id. */
const caches = new Map<number, KvCache>();
/** Caches a forward pass is reading now. */
const busy = new Set<number>();
const aborts = new Map<number, AbortController>();

/** Nothing here asks a moved-out cache for its contents again (they are gone for good). */
const gone: KvCacheHome = { owner: {}, id: -1, reclaim: () => 'stale', drop: () => undefined };

const send = (m: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);

port.on('message', (m: ToWorker) => {
  void handle(m);
});

async function handle(m: ToWorker): Promise<void> {
  switch (m.kind) {
    case 'open':
      try {
        sync = { port: m.sync, signal: m.signal };
        session = await ort.InferenceSession.create(m.graph, m.options);
        send({ kind: 'opened', inputNames: [...session.inputNames], outputNames: [...session.outputNames], inputMetadata: metadata(session.inputMetadata), outputMetadata: metadata(session.outputMetadata) });
      } catch (e) {
        send({ kind: 'openFailed', message: (e as Error).message ?? String(e) });
      }
      return;
    case 'forward':
      return forward(m);
    case 'abort':
      aborts.get(m.id)?.abort();
      return;
    case 'reclaim':
      return reclaim(m.cacheId);
    case 'count':
      return answer({ caches: caches.size });
    case 'drop':
      // A pass reading it keeps its own reference; the entry goes either way.
      caches.delete(m.cacheId);
      return;
    case 'release':
      caches.clear();
      await session?.release();
      session = undefined;
      send({ kind: 'released' });
      return;
  }
}

async function forward(m: ToWorker & { kind: 'forward' }): Promise<void> {
  const inId = m.cache.kind === 'empty' ? undefined : m.cache.id;
  const ac = new AbortController();
  aborts.set(m.id, ac);
  if (inId !== undefined) busy.add(inId);
  try {
    if (!session) throw new Error('the session is not open');
    if (m.cache.kind === 'moved') caches.set(m.cache.id, KvCache.fromLoan(m.cache.loan));
    const cache = inId === undefined ? KvCache.empty(m.geometry.numLayers, m.geometry.numKvHeads, m.geometry.headDim) : caches.get(inId);
    if (!cache) throw new Error(`KV cache ${inId} is not in the worker (freed, or taken back)`);
    const r = await backendFor(session as unknown as OrtSessionLike, m.geometry, m.prefillChunk).forward({
      tokens: m.tokens,
      cache,
      logitsToKeep: m.logitsToKeep,
      activationAdd: m.activationAdd,
      hiddenStateLayers: m.hiddenStateLayers,
      signal: ac.signal,
      cancelled: m.cancelled,
    });
    caches.set(m.outId, r.cache);
    const transfer = new Set<ArrayBuffer>();
    for (const a of [r.logits, ...r.hiddenStates.values()]) if (a.buffer instanceof ArrayBuffer) transfer.add(a.buffer);
    send({ kind: 'forwarded', id: m.id, logits: r.logits, hiddenStates: r.hiddenStates, length: r.cache.length }, [...transfer]);
  } catch (e) {
    send({ kind: 'forwardFailed', id: m.id, message: (e as Error).message ?? String(e), code: isKvsteerError(e) ? e.code : undefined });
  } finally {
    if (inId !== undefined) busy.delete(inId);
    aborts.delete(m.id);
  }
}

function backendFor(s: OrtSessionLike, g: BackendGeometry, chunk: number): OnnxBackend {
  const key = JSON.stringify([g, chunk]);
  let b = backends.get(key);
  if (!b) backends.set(key, (b = new OnnxBackend(s, g.numLayers, g.numKvHeads, g.headDim, g.vocabSize, g.hiddenSize, chunk)));
  return b;
}

/** Hands a cache's contents back to the engine, which waits for them (Atomics.wait). */
function reclaim(cacheId: number): void {
  let reply: Reclaimed;
  let transfer: ArrayBuffer[] = [];
  const cache = caches.get(cacheId);
  if (!cache) reply = { cacheId, error: `KV cache ${cacheId} is not in the worker (freed, or taken back)` };
  else if (busy.has(cacheId)) reply = { cacheId, error: 'this KV cache is in use by a forward pass in the worker' };
  else {
    caches.delete(cacheId);
    if (cache.isStale()) reply = { cacheId, stale: true };
    else {
      const loan = cache.moveOut(gone);
      reply = { cacheId, loan };
      transfer = loan.buffers;
    }
  }
  answer(reply, transfer);
}

/** Answers a synchronous request: the engine's thread waits on the flag, then reads the channel. */
function answer(reply: Reclaimed | Counted, transfer: ArrayBuffer[] = []): void {
  sync!.port.postMessage(reply, transfer);
  Atomics.store(sync!.signal, 0, 1);
  Atomics.notify(sync!.signal, 0);
}

function metadata(meta: readonly ort.InferenceSession.ValueMetadata[] | undefined): WireValueMetadata[] | undefined {
  return meta?.map((v) => ({ name: v.name, isTensor: v.isTensor, type: 'type' in v ? String(v.type) : undefined, shape: v.isTensor ? [...v.shape] : [] }));
}
