/**
 * Local model folders that are broken in the ways downloaded or hand-edited folders are: each
 * gives one KvsteerError naming the file and what is wrong with it, before transformers.js reads
 * anything. The folders are copies of the tiny model's imported folder with one file changed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseModelSource } from '../../../src/engine/model/modelSource';
import { tinyGgufPath } from '../../support/models';
import { editJsonFile, takeTemplateOut, tinyFolderCopies } from '../../support/modelFolders';

const { dir, tinyP, folderCopy, load } = tinyFolderCopies('kvsteer-folders-');

/** Rejects with MODEL_LOAD_FAILED whose message matches every pattern. */
async function failsWith(p: Promise<unknown>, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(p, (e: Error & { code?: string }) => {
    assert.equal(e.name, 'KvsteerError', e.message);
    assert.equal(e.code, 'MODEL_LOAD_FAILED');
    for (const re of patterns) assert.match(e.message, re);
    return true;
  });
}

const esc = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
  test(`a folder without ${f} is refused naming that file`, async () => {
    const folder = await folderCopy((d) => fs.rmSync(path.join(d, f)));
    await failsWith(load(folder), esc(`${path.join(folder, f)} is missing`));
  });
}

test('a config.json without model_type is refused naming the file and the field', async () => {
  const folder = await folderCopy((d) => editJsonFile(path.join(d, 'config.json'), (c) => delete c.model_type));
  await failsWith(load(folder), esc(`${path.join(folder, 'config.json')}: model_type is missing`));
});

for (const f of ['config.json', 'generation_config.json', 'tokenizer_config.json', 'tokenizer.json']) {
  test(`malformed JSON in ${f} is refused naming the file`, async () => {
    const folder = await folderCopy((d) => fs.writeFileSync(path.join(d, f), '{ "a": 1, }'));
    await failsWith(load(folder), esc(`${path.join(folder, f)}: not valid JSON`));
  });

  test(`${f} holding null instead of an object is refused naming the file`, async () => {
    const folder = await folderCopy((d) => fs.writeFileSync(path.join(d, f), 'null'));
    await failsWith(load(folder), esc(`${path.join(folder, f)}: expected a JSON object, found null`));
  });
}

test('a folder named like a GGUF file is a folder source and loads as one', async () => {
  const folder = await folderCopy(() => undefined, 'looks-like.gguf');
  assert.deepEqual(parseModelSource(folder), { kind: 'folder', path: folder });
  const m = await load(folder);
  assert.equal(m.config.numLayers, (await tinyP).config.numLayers);
  await m.dispose();
});

test('a folder named like a GGUF file that is not a model folder names the missing file', async () => {
  const folder = path.join(dir, 'empty.gguf');
  fs.mkdirSync(folder);
  await failsWith(load(folder), esc(`${path.join(folder, 'config.json')} is missing`));
});


test('a folder that holds a GGUF file (as LM Studio keeps them), not a Hugging Face layout, loads that file', async () => {
  const folder = path.join(dir, 'someone', 'Tiny GGUF');
  fs.mkdirSync(folder, { recursive: true });
  const gguf = path.join(folder, 'tiny-Q4_1.gguf');
  fs.copyFileSync(tinyGgufPath(), gguf);
  // A vision projector beside it is not the model.
  fs.copyFileSync(tinyGgufPath(), path.join(folder, 'mmproj-tiny-f16.gguf'));
  fs.writeFileSync(path.join(folder, 'README.md'), 'a model card');
  assert.deepEqual(parseModelSource(folder + path.sep), { kind: 'gguf', path: gguf });
  const m = await load(folder);
  assert.equal(m.config.numLayers, (await tinyP).config.numLayers);
  await m.dispose();
  // With two models in it, the folder does not say which one: the error names them.
  fs.copyFileSync(tinyGgufPath(), path.join(folder, 'tiny-Q8_0.GGUF'));
  assert.throws(() => parseModelSource(folder), esc(`${folder} holds several GGUF files (tiny-Q4_1.gguf, tiny-Q8_0.GGUF): name the one to load`));
});

const chat = [
  { role: 'system' as const, content: 'Be brief.' },
  { role: 'user' as const, content: 'hi there' },
];

test('a chat template saved as chat_template.jinja renders prompts as the same template in tokenizer_config.json does', async () => {
  const folder = await folderCopy((d) => takeTemplateOut(d, true));
  const m = await load(folder);
  assert.ok(m.tokenizer.hasChatTemplate);
  assert.equal(m.tokenizer.applyChatTemplate(chat), (await tinyP).tokenizer.applyChatTemplate(chat));
  await m.dispose();
});

test('a folder with no chat template anywhere is refused at the first prompt naming the model and the files looked in', async () => {
  const folder = await folderCopy((d) => takeTemplateOut(d, false));
  const m = await load(folder);
  assert.equal(m.tokenizer.hasChatTemplate, false);
  assert.throws(
    () => m.tokenizer.applyChatTemplate(chat),
    esc(`${folder} has no chat template (looked in ${path.join(folder, 'tokenizer_config.json')} and ${path.join(folder, 'chat_template.jinja')})`),
  );
  await m.dispose();
});
