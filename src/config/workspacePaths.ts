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

/** Whether `value` could be a path relative to some folder: not absolute, not `~/…`, not an `ollama:` name. */
function mayBeRelative(value: string): boolean {
  return !path.isAbsolute(value) && !value.startsWith('~') && !value.startsWith('ollama:');
}

/** Whether `value` names a file by a path relative to some folder (not a hub id, vector id or `ollama:` name). */
function isRelativeFile(key: 'model' | 'vector', value: string): boolean {
  return mayBeRelative(value) && (RELATIVE.test(value) || value.includes('${workspaceFolder}') || (key === 'model' ? /\.gguf$/i : /\.safetensors$/i).test(value));
}

/**
 * Why kvsteer.`key` cannot be read in Restricted Mode, or undefined. There the value comes from the
 * user's settings, and a relative path would be read in the extension host's working folder, which
 * can be the untrusted folder itself (`code .`): a file it planted would load.
 */
export function restrictedPathProblem(key: 'model' | 'vector', value: string): string | undefined {
  if (!isRelativeFile(key, value)) return undefined;
  return `kvsteer.${key} is the relative path ${JSON.stringify(value)}; in Restricted Mode kvsteer reads only absolute paths, so that no file of the untrusted folder loads. Give the full path in your user settings, or trust the folder.`;
}

/** `value` of kvsteer.`key` with `${workspaceFolder}` filled in and a relative file path made absolute against `folder`. */
export function resolveInWorkspace(key: 'model' | 'vector', value: string, folder: string | undefined): string {
  if (folder === undefined) return value;
  const filled = value.replace(/\$\{workspaceFolder\}/g, folder);
  if (!filled.trim() || !mayBeRelative(filled)) return filled;
  const inFolder = path.resolve(folder, filled);
  // A model spelled like a hub id is the workspace's folder when one of that name is there.
  const isFile = isRelativeFile(key, filled) || (key === 'model' && fs.existsSync(inFolder));
  return isFile ? inFolder : filled;
}
