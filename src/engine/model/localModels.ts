/**
 * GGUF models a user already has on disk from Ollama or LM Studio, so the editor and the CLI can
 * offer them by name. Ollama keeps weights as content-addressed blobs named by its manifests
 * (`models/manifests/<registry>/<namespace>/<model>/<tag>` → the layer of media type
 * `application/vnd.ollama.image.model` → `models/blobs/sha256-<hex>`); LM Studio keeps plain
 * `.gguf` files under `<publisher>/<repo>/`. Each file's header says whether kvsteer can load it
 * (the vocabulary's texts are not read: a file whose vocabulary repeats a text is listed, and
 * refused when it loads).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openGguf } from '../gguf/ggufFile';
import { checkGgufHeader } from '../gguf/importGguf';

export interface LocalGguf {
  /** What the user knows it by: `qwen2.5:0.5b` (Ollama) or `publisher/repo/file.gguf` (LM Studio). */
  name: string;
  source: 'Ollama' | 'LM Studio';
  path: string;
  bytes: number;
  /** GGUF `general.architecture`, when the header could be read. */
  architecture?: string;
  /** Why kvsteer cannot load it; undefined when it can. */
  unsupported?: string;
}

export interface LocalModelRoots {
  /** Ollama's models folders (default `$OLLAMA_MODELS` when set, else `~/.ollama/models` and the Linux service's). */
  ollama?: string[];
  /** LM Studio's models folders (default `~/.lmstudio/models`, `~/.cache/lm-studio/models`). */
  lmStudio?: string[];
}

export function defaultLocalModelRoots(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): Required<LocalModelRoots> {
  // Ollama reads $OLLAMA_MODELS instead of its default store when set (trimmed of spaces and
  // quotes, as Ollama trims it): the default's models are not its models then.
  const store = env.OLLAMA_MODELS?.trim().replace(/^["']+|["']+$/g, '');
  return {
    ollama: store ? [store] : [path.join(home, '.ollama', 'models'), '/usr/share/ollama/.ollama/models'],
    lmStudio: [path.join(home, '.lmstudio', 'models'), path.join(home, '.cache', 'lm-studio', 'models')],
  };
}

const OLLAMA_MODEL_LAYER = 'application/vnd.ollama.image.model';
const OLLAMA_REGISTRY = 'registry.ollama.ai';

/** Every GGUF found under the roots, supported ones first, then by name. Unreadable entries are skipped. */
export function findLocalGgufs(roots: LocalModelRoots = defaultLocalModelRoots()): LocalGguf[] {
  const found = new Map<string, LocalGguf>();
  // One entry per Ollama name: aliases (`ollama cp`, several tags) share a blob, read once.
  const blobs = new Map<string, LocalGguf>();
  for (const { name, path: blob } of ollamaModels(roots.ollama ?? [])) {
    const key = `ollama:${name}`;
    if (found.has(key)) continue; // the same name in a second store: Ollama reads one
    const described = blobs.get(blob) ?? describe(name, 'Ollama', blob);
    blobs.set(blob, described);
    found.set(key, { ...described, name });
  }
  for (const root of roots.lmStudio ?? []) {
    for (const file of filesBelow(root, 3)) {
      if (!isModelGgufName(path.basename(file)) || found.has(file)) continue;
      found.set(file, describe(path.relative(root, file).split(path.sep).join('/'), 'LM Studio', file));
    }
  }
  return [...found.values()].sort((a, b) => Number(!!a.unsupported) - Number(!!b.unsupported) || a.name.localeCompare(b.name));
}

/**
 * Whether a file name is that of GGUF model weights: `.gguf` in any case (`.GGUF` too), and not a
 * vision projector (`mmproj-…`), which ships beside the weights and is not a language model.
 */
export function isModelGgufName(name: string): boolean {
  const lower = name.toLowerCase();
  return lower.endsWith('.gguf') && !lower.startsWith('mmproj');
}

/**
 * Ollama's model names and their blobs: `model:tag`, `namespace/model:tag` outside "library", and
 * `registry/namespace/model:tag` for models pulled from elsewhere (`ollama pull hf.co/…`).
 */
export function ollamaModels(roots: string[]): { name: string; path: string }[] {
  const out: { name: string; path: string }[] = [];
  for (const root of roots) {
    for (const manifest of filesBelow(path.join(root, 'manifests'), 4)) {
      const blob = ollamaModelBlob(manifest, root);
      if (!blob) continue;
      // manifests/<registry>/<namespace>/<model>/<tag>; Ollama leaves out its own registry, and its
      // namespace "library" there.
      const [registry, namespace, model, tag] = path.relative(path.join(root, 'manifests'), manifest).split(path.sep);
      const prefix = registry !== OLLAMA_REGISTRY ? `${registry}/${namespace}/` : namespace === 'library' ? '' : `${namespace}/`;
      out.push({ name: `${prefix}${model}:${tag}`, path: blob });
    }
  }
  return out;
}

/**
 * The blob of Ollama model `name` ("qwen2.5:0.5b"; no tag means "latest", as for Ollama; a
 * registry with a port, "localhost:5000/ns/model", is not a tag; Ollama's own registry and its
 * "library" namespace may be spelled out), or undefined.
 */
export function ollamaModelPath(name: string, roots = defaultLocalModelRoots().ollama): string | undefined {
  const tagged = name.slice(name.lastIndexOf('/') + 1).includes(':') ? name : `${name}:latest`;
  const want = tagged.replace(`${OLLAMA_REGISTRY}/`, '').replace(/^library\//, '');
  return ollamaModels(roots).find((m) => m.name === want)?.path;
}

function ollamaModelBlob(manifest: string, root: string): string | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { layers?: { mediaType?: string; digest?: string }[] };
    const digest = m.layers?.find((l) => l.mediaType === OLLAMA_MODEL_LAYER)?.digest;
    if (!digest || !/^sha256:[0-9a-f]{64}$/.test(digest)) return undefined;
    const blob = path.join(root, 'blobs', digest.replace(':', '-'));
    return fs.existsSync(blob) ? blob : undefined;
  } catch {
    return undefined;
  }
}

function describe(name: string, source: LocalGguf['source'], file: string): LocalGguf {
  const entry: LocalGguf = { name, source, path: file, bytes: 0 };
  try {
    entry.bytes = fs.statSync(file).size;
  } catch {
    // A link whose target moved (LM Studio can import by symbolic link): listed, not fatal.
    entry.unsupported = 'cannot read the file (a link whose target is gone?)';
    return entry;
  }
  try {
    // The header only, the vocabulary counted rather than read: ~1 ms a file, where building the
    // tokenizer took ~130 ms for a 49k vocabulary (and a store may hold dozens of models).
    const f = openGguf(file, { stringArrays: 'count' });
    const arch = f.metadata.get('general.architecture');
    entry.architecture = typeof arch === 'string' ? arch : undefined;
    checkGgufHeader(f);
  } catch (e) {
    // The loader's messages start with the file's path; the list already shows which file it is.
    entry.unsupported = (e as Error).message.replace(`${file}: `, '');
  }
  return entry;
}

/**
 * Regular files up to `depth` folders below `dir` (none when it does not exist). A link to a folder
 * (a model folder kept on another disk) is walked as a folder, the depth bounding link loops; any
 * other link is listed as a file, even when its target is gone.
 */
function filesBelow(dir: string, depth: number): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = path.join(dir, e.name);
    const isDir = e.isDirectory() || (e.isSymbolicLink() && linksToFolder(p));
    if (isDir) return depth > 0 ? filesBelow(p, depth - 1) : [];
    return e.isFile() || e.isSymbolicLink() ? [p] : [];
  });
}

function linksToFolder(link: string): boolean {
  try {
    return fs.statSync(link).isDirectory();
  } catch {
    return false; // gone, a loop, or not readable: listed as a file, described as unreadable
  }
}
