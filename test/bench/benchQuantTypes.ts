/**
 * `npm run bench:quant`: what keeping quantized blocks packed buys, side by side in one run. The
 * same random weights, written with Q4_K, Q5_0, Q5_1, Q5_K, Q8_0, Q6_K and F32 blocks (a synthetic
 * model of 12 layers, hidden 1024, feed-forward 2816: about 140M block weights), are imported at the
 * default (exact) precision and run on the same 40-token prompt; the script prints each graph's
 * size, the median prefill time and the median decode ms/token.
 *
 *   npm run bench:quant -- [--runs 3] [--decode 64] [--threads 2]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { GgmlType } from '../../src/engine/gguf/ggmlTypes';
import { loadModel } from '../../src/engine/model/loadModel';
import { writeTinyRandomGguf } from '../../src/engine/model/tinyRandomModel';
import { generate, msPerToken } from '../../src/engine/generation/generate';
import { onnxFolderBytes } from '../support/models';

const { values } = parseArgs({ options: { runs: { type: 'string' }, decode: { type: 'string' }, threads: { type: 'string' } } });
const runs = Number(values.runs ?? 3);
const decode = Number(values.decode ?? 64);
const threads = Number(values.threads ?? 2);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-bench-quant-'));
  try {
    const rows: { type: string; mb: number; prefillMs: number; msPerToken: number }[] = [];
    for (const type of [GgmlType.Q4_K, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q5_K, GgmlType.Q8_0, GgmlType.Q6_K, GgmlType.F32]) {
      const file = path.join(dir, `${GgmlType[type]}.gguf`);
      // Same seed: each file holds the values its type can store, in the same shapes.
      writeTinyRandomGguf(file, { matrixType: type, size: { hidden: 1024, ff: 2816 }, layers: 12 });
      const m = await loadModel(file, { cacheDir: path.join(dir, 'cache'), threads });
      const bytes = onnxFolderBytes(m.folder);
      const promptIds = Array.from({ length: 40 }, (_, i) => 10 + i);
      await generate(m, { promptIds, maxNewTokens: 4, ignoreEos: true }); // warm-up
      const times: number[] = [], prefills: number[] = [];
      for (let r = 0; r < runs; r++) {
        const { timings } = await generate(m, { promptIds, maxNewTokens: decode, ignoreEos: true });
        times.push(msPerToken(timings));
        prefills.push(timings.prefillMs);
      }
      rows.push({ type: GgmlType[type], mb: bytes / 1e6, prefillMs: median(prefills), msPerToken: median(times) });
      await m.dispose();
    }
    console.log(`blocks | graph MB | prefill ms | decode ms/token (medians of ${runs}; 40-token prompt, ${decode} tokens, ${threads} threads)`);
    for (const r of rows) console.log(`${r.type.padEnd(6)} | ${r.mb.toFixed(1).padStart(8)} | ${r.prefillMs.toFixed(0).padStart(10)} | ${r.msPerToken.toFixed(2)}`);
    const f = rows[rows.length - 1];
    for (const q of rows.slice(0, -1)) {
      console.log(`${q.type} / F32: graph size ${(q.mb / f.mb).toFixed(2)}×, prefill ${(q.prefillMs / f.prefillMs).toFixed(2)}×, decode ${(q.msPerToken / f.msPerToken).toFixed(2)}×`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
