/**
 * Relative kvsteer.model and kvsteer.vector values name files in the workspace folder, not in the
 * extension host's working folder; ids and hub ids stay as they are.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveInWorkspace, restrictedPathProblem } from '../../src/config/workspacePaths';

test('a relative model or vector path in the settings names a file in the workspace folder', () => {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-ws-'));
  try {
    fs.mkdirSync(path.join(ws, 'models', 'smol'), { recursive: true });
    assert.equal(resolveInWorkspace('model', 'models/x.gguf', ws), path.join(ws, 'models', 'x.gguf'));
    assert.equal(resolveInWorkspace('model', './models/x.GGUF', ws), path.join(ws, 'models', 'x.GGUF'));
    assert.equal(resolveInWorkspace('model', '${workspaceFolder}/models/x.gguf', ws), path.join(ws, 'models', 'x.gguf'));
    // A folder in the workspace (a Hugging Face layout or an LM Studio folder) wins over a hub id of that spelling.
    assert.equal(resolveInWorkspace('model', 'models/smol', ws), path.join(ws, 'models', 'smol'));
    assert.equal(resolveInWorkspace('vector', 'vectors/mine.safetensors', ws), path.join(ws, 'vectors', 'mine.safetensors'));
    assert.equal(resolveInWorkspace('vector', '../shared/v.safetensors', ws), path.resolve(ws, '..', 'shared', 'v.safetensors'));
  } finally {
    fs.rmSync(ws, { recursive: true, force: true });
  }
});

test('hub ids, vector ids, ollama names, absolute and home paths are left as they are', () => {
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-ws-'));
  try {
    assert.equal(resolveInWorkspace('model', 'HuggingFaceTB/SmolLM2-135M-Instruct', ws), 'HuggingFaceTB/SmolLM2-135M-Instruct');
    assert.equal(resolveInWorkspace('model', 'ollama:qwen2.5:0.5b', ws), 'ollama:qwen2.5:0.5b');
    assert.equal(resolveInWorkspace('model', '/data/x.gguf', ws), '/data/x.gguf');
    assert.equal(resolveInWorkspace('model', '~/models/x.gguf', ws), '~/models/x.gguf');
    assert.equal(resolveInWorkspace('vector', 'smollm2-135m-reasoning', ws), 'smollm2-135m-reasoning');
    // No workspace folder (or Restricted Mode, where readSettings passes none): unchanged.
    assert.equal(resolveInWorkspace('model', 'models/x.gguf', undefined), 'models/x.gguf');
    assert.equal(resolveInWorkspace('model', '${workspaceFolder}/x.gguf', undefined), '${workspaceFolder}/x.gguf');
  } finally {
    fs.rmSync(ws, { recursive: true, force: true });
  }
});

test('in Restricted Mode a relative model or vector path is refused, not read in the working folder (which may be the untrusted one)', () => {
  for (const [key, value] of [['model', 'planted.gguf'], ['model', './models/x'], ['model', '${workspaceFolder}/x.gguf'], ['vector', 'v.safetensors']] as const) {
    assert.match(restrictedPathProblem(key, value) ?? '', /^kvsteer\.(model|vector) is the relative path .*; in Restricted Mode kvsteer reads only absolute paths/, value);
  }
  for (const [key, value] of [['model', '/data/x.gguf'], ['model', '~/x.gguf'], ['model', 'HuggingFaceTB/SmolLM2-135M-Instruct'], ['model', 'ollama:qwen2.5:0.5b'], ['vector', 'smollm2-135m-reasoning'], ['vector', '/v/x.safetensors']] as const) {
    assert.equal(restrictedPathProblem(key, value), undefined, value);
  }
});
