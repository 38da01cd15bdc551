/**
 * Models for tests: the tiny random Llama (built fresh in a temp folder, imported through the
 * normal GGUF path) and the real SmolLM2-135M-Instruct GGUF that `npm run model:fetch` provides.
 * Real-model tests skip with a clear message when that file is absent.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel, LoadedModel, LoadOptions } from '../../src/engine/model/loadModel';
import { writeTinyRandomGguf } from '../../src/engine/model/tinyRandomModel';
import { defaultGgufPath } from '../../src/cli/defaultModel';

let tinyDir: string | undefined;

/** Path of a tiny random GGUF, written once per test process. */
export function tinyGgufPath(): string {
  tinyDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-tiny-'));
  const p = path.join(tinyDir, 'tiny.gguf');
  if (!fs.existsSync(p)) writeTinyRandomGguf(p);
  return p;
}

export async function loadTinyModel(opts: LoadOptions = {}): Promise<LoadedModel> {
  const p = tinyGgufPath();
  return loadModel(p, { cacheDir: path.join(path.dirname(p), 'cache'), threads: 1, ...opts });
}

export const realGguf = defaultGgufPath();
export const realModelSkip: string | false = fs.existsSync(realGguf) ? false : `real model ${realGguf} is absent: run \`npm run model:fetch\``;

/** Bytes of a loaded folder's ONNX graph and its external data. */
export function onnxFolderBytes(folder: string): number {
  const onnx = path.join(folder, 'onnx');
  return fs.readdirSync(onnx).reduce((n, f) => n + fs.statSync(path.join(onnx, f)).size, 0);
}

let real: Promise<LoadedModel> | undefined;
/** The real SmolLM2 model, loaded once per test process (exact precision, 2 threads). */
export function loadRealModel(): Promise<LoadedModel> {
  real ??= loadModel(realGguf, { threads: 2 });
  return real;
}
