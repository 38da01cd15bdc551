/**
 * Activation steering (CAA), the baseline the paper compares cache steering with: the mean
 * residual-stream difference at the last token, added with a coefficient to the output of chosen
 * blocks at every position fed while decoding. Unlike the one-shot cache edit it costs an addition
 * on every token (inside the graph: the fused norm's bias input).
 */
import { KvsteerError } from '../util/errors';
import { LoadedModel } from '../model/loadModel';
import { SteeringVector } from './steeringVector';

export interface ActivationSteering {
  layers: number[];
  coefficient: number;
}

export function activationAdditions(model: LoadedModel, vector: SteeringVector, s: ActivationSteering): Map<number, Float32Array> {
  if (!model.backend.supportsActivationSteering) {
    throw new KvsteerError('INVALID_ARGUMENT', `activation steering is not supported for ${model.name}: only models imported from GGUF by kvsteer expose the residual stream`);
  }
  if (!vector.hidden) throw new KvsteerError('VECTOR_INVALID', `steering vector ${vector.meta.name} has no activation (hidden-state) directions; re-extract it`);
  if (!Number.isFinite(s.coefficient)) throw new KvsteerError('INVALID_ARGUMENT', `the activation-steering coefficient must be finite (got ${s.coefficient})`);
  const out = new Map<number, Float32Array>();
  for (const l of s.layers) {
    if (!Number.isInteger(l) || l < 0 || l >= model.config.numLayers) throw new KvsteerError('INVALID_ARGUMENT', `layer ${l} does not exist`);
    out.set(l, Float32Array.from(vector.hidden[l], (x) => x * s.coefficient));
  }
  return out;
}
