/**
 * `kvsteer.model` and `kvsteer.vector` may name files relative to the workspace, as a workspace's
 * `.vscode/settings.json` naturally does (`models/x.gguf`, `${workspaceFolder}/vectors/v.safetensors`).
 * The extension host's working folder is not the workspace (often `/` or the home folder), so such
 * values are resolved against the workspace folder here, before anything loads them. Hub ids,
 * vector ids and `ollama:` names are left as they are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const RELATIVE = /^\.{1,2}[\\/]/;

/** `value` of kvsteer.`key` with `${workspaceFolder}` filled in and a relative file path made absolute against `folder`. */
export function resolveInWorkspace(key: 'model' | 'vector', value: string, folder: string | undefined): string {
  if (folder === undefined) return value;
  const filled = value.replace(/\$\{workspaceFolder\}/g, folder);
  if (path.isAbsolute(filled) || filled.startsWith('~') || filled.startsWith('ollama:') || !filled.trim()) return filled;
  const inFolder = path.resolve(folder, filled);
  const isFile =
    RELATIVE.test(filled) ||
    (key === 'model' ? /\.gguf$/i.test(filled) || fs.existsSync(inFolder) : /\.safetensors$/i.test(filled));
  return isFile ? inFolder : filled;
}
