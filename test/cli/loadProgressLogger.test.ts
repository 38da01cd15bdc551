/**
 * The CLI's model-loading lines: every stage and every downloaded file shows up, and a stage's
 * changing message (a download's byte count, an import's layer) is printed at most every 2 s.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { loadProgressLogger, PROGRESS_INTERVAL_MS } from '../../src/cli/modelOptions';

test('a changed message is printed at most every interval, a new stage or file at once, a repeated one never', () => {
  const lines: string[] = [];
  let t = 0;
  const log = loadProgressLogger((l) => lines.push(l), () => t);
  log({ stage: 'load', message: 'Loading org/m' });
  log({ stage: 'download', file: 'tokenizer.json', message: 'Downloading org/m: tokenizer.json' });
  log({ stage: 'download', file: 'onnx/model.onnx_data', fraction: 0.1, message: 'Downloading org/m: onnx/model.onnx_data (1.0 MB of 10.0 MB)' });
  t += PROGRESS_INTERVAL_MS / 2;
  log({ stage: 'download', file: 'onnx/model.onnx_data', fraction: 0.2, message: 'Downloading org/m: onnx/model.onnx_data (2.0 MB of 10.0 MB)' });
  t += PROGRESS_INTERVAL_MS / 2;
  log({ stage: 'download', file: 'onnx/model.onnx_data', fraction: 0.3, message: 'Downloading org/m: onnx/model.onnx_data (3.0 MB of 10.0 MB)' });
  t += PROGRESS_INTERVAL_MS * 2;
  log({ stage: 'download', file: 'onnx/model.onnx_data', fraction: 0.3, message: 'Downloading org/m: onnx/model.onnx_data (3.0 MB of 10.0 MB)' });
  log({ stage: 'ready', fraction: 1, message: 'org/m ready' });
  assert.deepEqual(lines, [
    '… Loading org/m',
    '… Downloading org/m: tokenizer.json',
    '… Downloading org/m: onnx/model.onnx_data (1.0 MB of 10.0 MB)',
    '… Downloading org/m: onnx/model.onnx_data (3.0 MB of 10.0 MB)',
    '… org/m ready',
  ]);
});

test("an import's progress within one stage is printed as it changes, throttled", () => {
  const lines: string[] = [];
  let t = 0;
  const log = loadProgressLogger((l) => lines.push(l), () => t);
  for (let layer = 1; layer <= 30; layer++) {
    log({ stage: 'import', fraction: layer / 30, message: `Converting layer ${layer}/30` });
    t += 500;
  }
  assert.deepEqual(lines, ['… Converting layer 1/30', '… Converting layer 5/30', '… Converting layer 9/30', '… Converting layer 13/30', '… Converting layer 17/30', '… Converting layer 21/30', '… Converting layer 25/30', '… Converting layer 29/30']);
});
