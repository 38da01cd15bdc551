/** Hand-broken copies of a model folder, for tests of how loading reports what is wrong. */
import * as fs from 'node:fs';
import * as path from 'node:path';

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
