/**
 * The packaged extension (`npm run package`): a linux-x64 .vsix under 100 MB that holds the two
 * bundles, the webview assets, the shipped vectors and ONNX Runtime's linux-x64 binaries, and no
 * model weights. Runs with the end-to-end suite (KVSTEER_E2E_VSIX).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

const vsix = process.env.KVSTEER_E2E_VSIX;
const skip = !vsix ? 'KVSTEER_E2E_VSIX is not set (run npm run test:e2e)' : false;
if (skip && process.env.KVSTEER_E2E_REQUIRED === '1') throw new Error(skip);

test('the .vsix is under 100 MB, holds what the extension needs and no model weights', { skip }, () => {
  const size = fs.statSync(vsix!).size;
  const list = spawnSync('python3', ['-c', 'import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, i.file_size)', vsix!], { encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  const files = new Map(list.stdout.trim().split('\n').map((l) => { const i = l.lastIndexOf(' '); return [l.slice(0, i), Number(l.slice(i + 1))] as const; }));
  console.log(`# ${vsix}: ${(size / 1e6).toFixed(1)} MB, ${files.size} files`);
  assert.ok(size < 100e6, `${(size / 1e6).toFixed(1)} MB`);
  for (const f of ['extension/package.json', 'extension/dist/extension.js', 'extension/dist/engine.js', 'extension/media/compare.js', 'extension/media/compare.css', 'extension/vectors/manifest.json', 'extension/vectors/smollm2-135m-reasoning.safetensors', 'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node']) {
    assert.ok(files.has(f), `${f} is missing`);
  }
  const weights = [...files.keys()].filter((f) => /\.(gguf|onnx|onnx_data|bin|pt|pth|ckpt)$/i.test(f) || /model\.safetensors$/.test(f));
  assert.deepEqual(weights, [], 'model weights in the package');
  const otherPlatforms = [...files.keys()].filter((f) => /onnxruntime-node\/bin\/napi-v6\/(darwin|win32|linux\/arm64)/.test(f));
  assert.deepEqual(otherPlatforms, []);
  assert.ok(![...files.keys()].some((f) => f.includes('/src/') || f.includes('/test/')), 'sources or tests packaged');
});
