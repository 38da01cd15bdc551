/**
 * The manifest of shipped (or user-saved) steering vectors: `manifest.json` in a vectors folder
 * lists each file with its name, model and recommended strengths, so the CLI and the extension can
 * offer vectors without opening every file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removeStaleTempSiblings, tempSibling, withFileLock, writeFileAtomic } from '../util/atomicWrite';
import { KvsteerError, describeWriteError } from '../util/errors';
import { SteeringVector } from './steeringVector';
import { saveVector } from './vectorFile';

export interface ManifestEntry {
  /** Stable id used in settings (e.g. "smollm2-135m-reasoning"). */
  id: string;
  file: string;
  name: string;
  description?: string;
  model: string;
  recommended: SteeringVector['meta']['recommended'];
}

export interface VectorManifest {
  version: 1;
  /** Id of the vector to use when none is named and several fit the model. */
  default?: string;
  vectors: ManifestEntry[];
}

export function readManifest(dir: string): VectorManifest {
  const file = path.join(dir, 'manifest.json');
  if (!fs.existsSync(file)) return { version: 1, vectors: [] };
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as VectorManifest;
    if (m?.version !== 1 || !Array.isArray(m.vectors)) throw new Error('unknown manifest version');
    if (m.default !== undefined && typeof m.default !== 'string') throw new Error('"default" must be a vector id');
    // Every entry is used by id and file: one without them would fail later as a bare TypeError.
    m.vectors.forEach((e: unknown, i) => {
      const entry = e as Partial<ManifestEntry> | null;
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Error(`vectors[${i}] is not an object`);
      for (const key of ['id', 'file'] as const) {
        if (typeof entry[key] !== 'string' || entry[key] === '') throw new Error(`vectors[${i}] has no "${key}" (a non-empty string)`);
      }
    });
    return m;
  } catch (e) {
    throw new KvsteerError('VECTOR_INVALID', `${file}: ${(e as Error).message}`);
  }
}

/** Adds or replaces the entry for `id` and writes the manifest atomically, under a lock. */
export function upsertManifest(dir: string, id: string, file: string, v: SteeringVector): VectorManifest {
  const target = path.join(dir, 'manifest.json');
  // Locked from read to write: two extractions into one folder would otherwise drop an entry.
  return withFileLock(target, () => {
    const m = readManifest(dir);
    const entry: ManifestEntry = { id, file, name: v.meta.name, description: v.meta.description, model: v.meta.model.name, recommended: v.meta.recommended };
    m.vectors = [...m.vectors.filter((e) => e.id !== id), entry].sort((a, b) => a.id.localeCompare(b.id));
    writeFileAtomic(target, JSON.stringify(m, null, 2) + '\n');
    return m;
  });
}

/**
 * Saves `v` as `dir/file` and lists it under `id` (upsertManifest). When the manifest cannot take
 * the entry, the folder is left as it was: a file this call created is removed again (a vector no
 * manifest lists is found by no one), and a file it replaced gets its previous content back (the
 * manifest's entry for it still describes that one).
 */
export function saveListedVector(dir: string, id: string, file: string, v: SteeringVector): string {
  const out = path.join(dir, file);
  const previous = fs.existsSync(out) ? setAside(out) : undefined;
  try {
    saveVector(out, v);
    try {
      upsertManifest(dir, id, file, v);
    } catch (e) {
      try {
        if (previous) fs.renameSync(previous, out);
        else fs.rmSync(out, { force: true });
      } catch {
        // the manifest's error is the one to report
      }
      throw e;
    }
  } finally {
    if (previous) fs.rmSync(previous, { force: true });
  }
  return out;
}

/** A copy of `file` beside it, as a hard link where the file system allows (no room needed). */
function setAside(file: string): string {
  removeStaleTempSiblings(file);
  const aside = tempSibling(file);
  try {
    fs.linkSync(file, aside);
  } catch {
    try {
      fs.copyFileSync(file, aside);
    } catch (e) {
      fs.rmSync(aside, { force: true });
      throw describeWriteError(e, file, 'the previous file is unchanged');
    }
  }
  return aside;
}

export function resolveManifestEntry(dir: string, id: string): { entry: ManifestEntry; path: string } | undefined {
  const entry = readManifest(dir).vectors.find((e) => e.id === id);
  return entry ? { entry, path: path.join(dir, entry.file) } : undefined;
}
