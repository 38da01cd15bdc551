/**
 * Resolves what a user names as a steering vector — a file path or a manifest id — and finds a
 * shipped vector that fits a loaded model when none is named.
 */
import * as fs from 'node:fs';
import { KvsteerError, isKvsteerError } from '../util/errors';
import { expandHome } from '../util/homePath';
import { LoadedModel } from '../model/loadModel';
import { SteeringVector, checkVectorFitsModel } from './steeringVector';
import { loadVector } from './vectorFile';
import { warmUpCacheEdit } from './applySteering';
import { readManifest, resolveManifestEntry } from './vectorManifest';

/**
 * The file `spec` names: itself when it is a path (`~/…` in the home folder, as model paths are),
 * else the first manifest entry of that id in `dirs`.
 */
export function vectorFileOf(spec: string, dirs: string[]): string | undefined {
  const file = expandHome(spec);
  if (file.endsWith('.safetensors') || fs.existsSync(file)) return file;
  for (const d of dirs) {
    const hit = resolveManifestEntry(d, spec);
    if (hit) return hit.path;
  }
  return undefined;
}

/** Loads `spec` (a .safetensors path or an id in the manifests of `dirs`) and checks it fits. */
export function resolveVector(spec: string, dirs: string[], model?: LoadedModel): SteeringVector {
  return resolveVectorFile(spec, dirs, model).vector;
}

/** resolveVector, also giving the file the vector was read from. */
export function resolveVectorFile(spec: string, dirs: string[], model?: LoadedModel): { vector: SteeringVector; file: string } {
  const file = vectorFileOf(spec, dirs);
  const v = file === undefined ? undefined : loadVector(file);
  if (!v || file === undefined) {
    const known = dirs.flatMap((d) => readManifest(d).vectors.map((e) => e.id));
    throw new KvsteerError('VECTOR_INVALID', `unknown steering vector "${spec}" (known: ${known.join(', ') || 'none'}; or give a .safetensors path)`);
  }
  if (model) checkVectorFitsModel(v, model, spec);
  warmUpCacheEdit(v);
  return { vector: v, file };
}

/**
 * The first vector listed in `dirs` that fits `model` (each manifest's default first), or undefined.
 * Throws for a listed vector that cannot be read.
 */
export function findVectorForModel(dirs: string[], model: LoadedModel): { id: string; vector: SteeringVector; file: string } | undefined {
  for (const d of dirs) {
    const m = readManifest(d);
    const ordered = [...m.vectors].sort((a, b) => Number(b.id === m.default) - Number(a.id === m.default));
    for (const e of ordered) {
      const hit = resolveManifestEntry(d, e.id)!;
      let v: SteeringVector;
      try {
        v = loadVector(hit.path);
        checkVectorFitsModel(v, model);
      } catch (e) {
        // Not for this model: try the next one. A listed file that is missing or corrupt is an error
        // naming it: skipping it would quietly steer with the next vector listed (or with none).
        if (isKvsteerError(e) && e.code === 'VECTOR_MISMATCH') continue;
        throw e;
      }
      warmUpCacheEdit(v);
      return { id: e.id, vector: v, file: hit.path };
    }
  }
  return undefined;
}
