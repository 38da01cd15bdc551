/** Decode speed as the CLI, the chat and the logs print it; free of ONNX Runtime, so editor code can import it. */

/** ms/token for people: one decimal, or a dash when no decoding step ran (a one-token answer, EOS first). */
export function formatMsPerToken(ms: number): string {
  return Number.isFinite(ms) ? ms.toFixed(1) : '—';
}
