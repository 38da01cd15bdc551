/** Evaluation settings for tests on tiny models. */
import type { LoadedModel } from '../../src/engine/model/loadModel';
import type { EvalConfig } from '../../src/engine/eval/runEval';
import type { EvalRow } from '../../src/engine/eval/tasks';
import { fakeVector } from './fakeVector';

/** A greedy ARC run of baseline and cache steering, with a fake vector of the model's shape. */
export function arcConfig(m: LoadedModel, rows: EvalRow[], outDir: string, maxNewTokens: number) {
  return {
    task: 'arc-challenge' as const,
    rows,
    methods: ['baseline' as const, 'cache-steering' as const],
    decoding: 'greedy' as const,
    seeds: 1,
    sampling: { temperature: 0.6, topP: 0.9, topK: 50 },
    maxNewTokens,
    outDir,
    vector: fakeVector(m),
  } satisfies EvalConfig;
}
