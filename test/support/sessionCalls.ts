/** Counts a backend's ONNX Runtime calls while a test body runs (a prompt in chunks makes one per chunk). */
import type { OnnxBackend, OrtSessionLike } from '../../src/engine/model/onnxBackend';

/** Runs `body` with `backend`'s session.run counted (`calls()` so far); the count at the end comes back with its result. */
export async function countingRuns<T>(backend: OnnxBackend, body: (calls: () => number) => Promise<T>): Promise<{ result: T; calls: number }> {
  const session = (backend as unknown as { session: OrtSessionLike }).session;
  const run0 = session.run;
  let calls = 0;
  session.run = (...a) => (calls++, run0.apply(session, a));
  try {
    return { result: await body(() => calls), calls };
  } finally {
    session.run = run0;
  }
}
