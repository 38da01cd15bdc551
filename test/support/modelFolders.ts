/** Hand-broken copies of a model folder, for tests of how loading reports what is wrong. */
import { after } from 'node:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LoadedModel, LoadOptions, loadModel } from '../../src/engine/model/loadModel';
import { loadTinyModel } from './models';

/** Copies `source` to `target` and changes the copy with `edit`; returns `target`. */
export function copyModelFolder(source: string, target: string, edit: (folder: string) => void): string {
  fs.cpSync(source, target, { recursive: true });
  edit(target);
  return target;
}

/** Rewrites a JSON object file through `change`, which edits it in place. */
export function editJsonFile(file: string, change: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  change(json);
  fs.writeFileSync(file, JSON.stringify(json));
}

/** Moves tokenizer_config.json's chat_template out (into chat_template.jinja when `toFile`). */
export function takeTemplateOut(folder: string, toFile: boolean): void {
  editJsonFile(path.join(folder, 'tokenizer_config.json'), (c) => {
    if (toFile) fs.writeFileSync(path.join(folder, 'chat_template.jinja'), c.chat_template as string);
    delete c.chat_template;
  });
}

/**
 * For one test file: the tiny model, and a temporary folder for changed copies of its folder
 * (`folderCopy`, named m1, m2… unless named) and their load cache (`load`); after the file's
 * tests the model is freed and the folder removed.
 */
export function tinyFolderCopies(prefix: string): {
  dir: string;
  tinyP: Promise<LoadedModel>;
  folderCopy: (edit: (folder: string) => void, name?: string) => Promise<string>;
  load: (folder: string, opts?: LoadOptions) => Promise<LoadedModel>;
} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const tinyP = loadTinyModel();
  after(async () => {
    await (await tinyP).dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  let copies = 0;
  const folderCopy = async (edit: (folder: string) => void, name = `m${++copies}`) => copyModelFolder((await tinyP).folder, path.join(dir, name), edit);
  const load = (folder: string, opts: LoadOptions = {}) => loadModel(folder, { cacheDir: path.join(dir, 'cache'), threads: 1, ...opts });
  return { dir, tinyP, folderCopy, load };
}
