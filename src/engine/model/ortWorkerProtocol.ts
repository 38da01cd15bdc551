/**
 * The messages between the engine and the worker thread that holds a model's ONNX Runtime session
 * and the KV caches made with it (ortWorker.ts, workerSession.ts). Everything here survives
 * structured clone: tensors as typed arrays, caches as a KvCacheLoan or an id the worker knows.
 */
import type * as ort from 'onnxruntime-node';
import type { MessagePort } from 'node:worker_threads';
import type { KvCacheLoan } from './kvCache';
import type { GraphGeometry } from './onnxBackend';
import type { KvsteerErrorCode } from '../util/errors';

/** What the worker's OnnxBackend is built with: the config's geometry, checked against the graph here. */
export interface BackendGeometry extends GraphGeometry {
  hiddenSize: number;
}

/** What the graph declares about one input or output (ort's ValueMetadata, as plain data). */
export interface WireValueMetadata {
  name: string;
  isTensor: boolean;
  type?: string;
  shape: ReadonlyArray<number | string>;
}

/**
 * The cache a forward pass starts from: none (an empty one, which stays with the engine), moved
 * there now (transferred), or already there.
 */
export type CacheRef = { kind: 'empty' } | { kind: 'moved'; id: number; loan: KvCacheLoan } | { kind: 'there'; id: number };

export type ToWorker =
  /** `sync`/`signal`: the channel and the flag of synchronous reclaims (see WorkerSession.reclaim). */
  | { kind: 'open'; graph: string; options: ort.InferenceSession.SessionOptions; sync: MessagePort; signal: Int32Array }
  | {
      kind: 'forward';
      id: number;
      geometry: BackendGeometry;
      prefillChunk: number;
      tokens: number[];
      cache: CacheRef;
      /** The id the worker keeps the resulting cache under. */
      outId: number;
      logitsToKeep: number;
      activationAdd?: Map<number, Float32Array>;
      hiddenStateLayers?: number[];
      cancelled?: string;
    }
  | { kind: 'abort'; id: number }
  /** Answered on the sync channel with a Reclaimed. */
  | { kind: 'reclaim'; cacheId: number }
  /** Answered on the sync channel with a Counted. */
  | { kind: 'count' }
  /** The engine freed this cache, or its handle was garbage-collected: free it here. */
  | { kind: 'drop'; cacheId: number }
  | { kind: 'release' };

export type FromWorker =
  | { kind: 'opened'; inputNames: string[]; outputNames: string[]; inputMetadata?: WireValueMetadata[]; outputMetadata?: WireValueMetadata[] }
  | { kind: 'openFailed'; message: string }
  | { kind: 'forwarded'; id: number; logits: Float32Array; hiddenStates: Map<number, Float32Array>; length: number }
  | { kind: 'forwardFailed'; id: number; message: string; code?: KvsteerErrorCode }
  | { kind: 'released' };

/** How many caches the worker holds (a leak shows here). */
export type Counted = { caches: number };

export type Reclaimed = { cacheId: number; loan: KvCacheLoan } | { cacheId: number; stale: true } | { cacheId: number; error: string };
