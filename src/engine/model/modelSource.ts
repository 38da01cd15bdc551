/**
 * Where a model comes from, as a user writes it: a `.gguf` file (or a folder holding one, or
 * `ollama:<name>` for one in Ollama's store), a local folder in the Hugging Face layout, or a Hugging Face hub id. Everything ends in a local folder that the loader opens.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KvsteerError } from '../util/errors';
import { expandHome } from '../util/homePath';
import { isModelGgufName, ollamaModelPath } from './localModels';
import { hasGgufMagic } from '../gguf/ggufFile';

export type ModelSource =
  | { kind: 'gguf'; path: string }
  | { kind: 'folder'; path: string }
  | { kind: 'hub'; id: string };

const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;
/** `ollama:qwen2.5:0.5b` names a model in Ollama's store. */
const OLLAMA_PREFIX = 'ollama:';

/** Expands `~`, `~/…` and `~\…` (as Windows spells it) and resolves relative paths against `cwd`. */
function expand(p: string, cwd: string): string {
  return path.resolve(cwd, expandHome(p));
}

export function parseModelSource(spec: string, cwd = process.cwd()): ModelSource {
  const s = spec.trim();
  if (!s) throw new KvsteerError('INVALID_ARGUMENT', 'no model given: pass a hub id, a folder or a .gguf file');
  if (s.startsWith(OLLAMA_PREFIX)) {
    const name = s.slice(OLLAMA_PREFIX.length);
    const blob = ollamaModelPath(name);
    if (!blob) throw new KvsteerError('FILE_NOT_FOUND', `no Ollama model "${name}" on this machine (\`ollama pull ${name}\` fetches it; \`kvsteer models\` lists what is here)`);
    return { kind: 'gguf', path: blob };
  }
  const local = expand(s, cwd);
  // A folder is a folder source whatever its name ends in (`model.gguf/` holding an HF layout).
  const isDir = fs.existsSync(local) && fs.statSync(local).isDirectory();
  if (isDir) return ggufInFolder(local) ?? { kind: 'folder', path: local };
  if (s.toLowerCase().endsWith('.gguf')) return { kind: 'gguf', path: local };
  if (fs.existsSync(local)) {
    // Ollama stores GGUF weights as blobs named by their digest, without the extension.
    if (hasGgufMagic(local)) return { kind: 'gguf', path: local };
    throw new KvsteerError('INVALID_ARGUMENT', `${local}: not a folder or a GGUF file`);
  }
  if (s.startsWith('.') || s.startsWith('/') || s.startsWith('~') || !HUB_ID.test(s)) {
    throw new KvsteerError('FILE_NOT_FOUND', `${local}: no such file or folder`);
  }
  return { kind: 'hub', id: s };
}

/**
 * The GGUF file a folder holds instead of a Hugging Face layout (LM Studio's `<publisher>/<repo>/`,
 * a download folder), else undefined; several are an error naming them, not a guess.
 */
function ggufInFolder(folder: string): ModelSource | undefined {
  if (fs.existsSync(path.join(folder, 'config.json'))) return undefined;
  let names: string[];
  try {
    names = fs.readdirSync(folder).filter((n) => isModelGgufName(n) && !fs.statSync(path.join(folder, n), { throwIfNoEntry: false })?.isDirectory());
  } catch {
    return undefined;
  }
  if (names.length === 1) return { kind: 'gguf', path: path.join(folder, names[0]) };
  if (names.length > 1) throw new KvsteerError('INVALID_ARGUMENT', `${folder} holds several GGUF files (${names.sort().join(', ')}): name the one to load`);
  return undefined;
}

export function describeSource(src: ModelSource): string {
  return src.kind === 'hub' ? src.id : src.path;
}

/**
 * Default cache root: $KVSTEER_CACHE_DIR (made absolute), else ~/.cache/kvsteer. An empty value
 * counts as unset, as shells leave it (`KVSTEER_CACHE_DIR= kvsteer …`): it would otherwise put the
 * cache's folders in the current one.
 */
export function defaultCacheDir(): string {
  const dir = process.env.KVSTEER_CACHE_DIR?.trim();
  return dir ? path.resolve(dir) : path.join(os.homedir(), '.cache', 'kvsteer');
}
