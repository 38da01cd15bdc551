/**
 * The editor layer's only way to the engine's runtime code: a lazy import. In the packaged
 * extension this is a separate bundle (dist/engine.js, see esbuild.mjs), so activation loads none
 * of ONNX Runtime or transformers.js. Type-only imports of engine modules are fine anywhere.
 */
export type Engine = typeof import('../engine/index');

let loading: Promise<Engine> | undefined;

export function engine(): Promise<Engine> {
  // A plain require (this is CommonJS): esbuild.mjs maps this exact specifier to ./engine.js.
  loading ??= Promise.resolve().then(() => require('../engine/index') as Engine);
  return loading;
}
