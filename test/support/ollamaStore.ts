/**
 * Model stores laid out as Ollama lays them out, for tests: a blob named by its digest under
 * `blobs/`, and a manifest `manifests/registry.ollama.ai/<namespace>/<model>/<tag>` whose model
 * layer names it.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Adds `gguf` to the store at `root` as `model:tag` and returns the blob's path. 'move' renames the
 * file into the store (the digest is of its contents, as Ollama's); 'link' leaves a big file where
 * it is and links to it (the digest is then of its path, which is enough for kvsteer's lookup).
 */
export function addToOllamaStore(root: string, gguf: string, opts: { model: string; tag: string; namespace?: string; registry?: string; how: 'move' | 'link' }): string {
  const hex = crypto.createHash('sha256').update(opts.how === 'move' ? fs.readFileSync(gguf) : gguf).digest('hex');
  const blob = path.join(root, 'blobs', `sha256-${hex}`);
  fs.mkdirSync(path.dirname(blob), { recursive: true });
  if (opts.how === 'move') fs.renameSync(gguf, blob);
  else fs.symlinkSync(gguf, blob);
  const manifest = path.join(root, 'manifests', opts.registry ?? 'registry.ollama.ai', opts.namespace ?? 'library', opts.model, opts.tag);
  fs.mkdirSync(path.dirname(manifest), { recursive: true });
  fs.writeFileSync(
    manifest,
    JSON.stringify({
      schemaVersion: 2,
      layers: [
        { mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${hex}`, size: fs.statSync(blob).size },
        { mediaType: 'application/vnd.ollama.image.template', digest: `sha256:${'0'.repeat(64)}`, size: 10 },
      ],
    }),
  );
  return blob;
}
