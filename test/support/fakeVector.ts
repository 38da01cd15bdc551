/** A deterministic pseudo-random steering vector shaped for a given model (tests only). */
import { LoadedModel } from '../../src/engine/model/loadModel';
import { SteeringVector, modelFingerprint } from '../../src/engine/steering/steeringVector';

/** A deterministic pseudo-random vector of the model's shape. */
export function fakeVector(m: LoadedModel, scale = 0.5): SteeringVector {
  const size = m.config.numKvHeads * m.config.headDim;
  const mk = (l: number, o: number) => Float32Array.from({ length: size }, (_, i) => Math.sin(l * 31 + i * 0.7 + o) * scale);
  return {
    keys: Array.from({ length: m.config.numLayers }, (_, l) => mk(l, 1)),
    values: Array.from({ length: m.config.numLayers }, (_, l) => mk(l, 2)),
    meta: {
      format: 'kvsteer-vector/1',
      name: 'fake',
      model: { name: m.name, id: m.id, fingerprint: modelFingerprint(m) },
      extraction: { dataset: 'inline', datasetDigest: '-', items: 0, pairs: 0, demos: 0, seed: 0, template: '-', position: 'last-token' },
      recommended: { cK: 0, cV: 4, offsetToken: '\n', fromLayer: 1 },
      kvsteerVersion: 'test',
      createdAt: new Date(0).toISOString(),
    },
  };
}

