// Builds the extension into dist/: extension.js (the editor layer, loaded at activation),
// engine.js (the engine with transformers.js, loaded on the first request) and ortWorker.js (the
// worker thread that runs the model's ONNX Runtime session off the extension host's thread). onnxruntime-node is a
// native module: it stays external and ships in the .vsix (see .vscodeignore written below).
//
//   node esbuild.mjs [--production] [--watch] [--vscodeignore <target>]
//   node esbuild.mjs --package-all    production bundles, then dist/kvsteer-<target>.vsix for every
//                                     platform onnxruntime-node ships binaries for
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

const packageAll = process.argv.includes('--package-all');
const production = process.argv.includes('--production') || packageAll;
const watch = process.argv.includes('--watch');
const targetArg = process.argv.indexOf('--vscodeignore');

/** VS Code targets with onnxruntime-node binaries (node_modules/onnxruntime-node/bin/napi-v6/<platform>/<arch>). */
const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64', 'win32-arm64'];

/** The editor layer reaches the engine only through src/service/engine.ts: keep it a separate file. */
const engineExternal = {
  name: 'engine-external',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/engine\/index$/ }, (args) =>
      args.importer.endsWith('service/engine.ts') ? { path: './engine.js', external: true } : undefined,
    );
  },
};

/** transformers.js imports sharp (images) at the top; kvsteer never uses images, so ship a stub. */
const sharpStub = {
  name: 'sharp-stub',
  setup(build) {
    build.onResolve({ filter: /^sharp$/ }, () => ({ path: 'sharp', namespace: 'kvsteer-stub' }));
    build.onLoad({ filter: /.*/, namespace: 'kvsteer-stub' }, () => ({ contents: "module.exports = function sharp() { throw new Error('kvsteer does not process images'); };", loader: 'js' }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  minify: production,
  external: ['vscode', 'onnxruntime-node', 'onnxruntime-common'],
  logLevel: 'warning',
};

/**
 * In watch mode, the lines the "kvsteer: watch" task (.vscode/tasks.json) waits for: a background
 * task is busy from `[watch] build started` to `[watch] build finished`. esbuild logs nothing of
 * the kind by itself; its errors (`✘ [ERROR] …`, a blank line, `    file:line:column:`) it does.
 */
const watchLog = {
  name: 'watch-log',
  setup(build) {
    build.onStart(() => console.log('[watch] build started'));
    build.onEnd(() => console.log('[watch] build finished'));
  },
};

const builds = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', plugins: [engineExternal] },
  { ...common, entryPoints: ['src/engine/index.ts'], outfile: 'dist/engine.js', plugins: [sharpStub] },
  // Loaded by path (WORKER_SCRIPT in src/engine/model/workerSession.ts): beside engine.js.
  { ...common, entryPoints: ['src/engine/model/ortWorker.ts'], outfile: 'dist/ortWorker.js', plugins: [] },
];

/**
 * The files a platform-specific .vsix holds: the bundles, webview assets, shipped vectors, and
 * onnxruntime-node with only that platform's native binaries. No model weights.
 */
function writeVscodeignore(target) {
  const [platform, arch] = target.split('-');
  const bin = `node_modules/onnxruntime-node/bin/napi-v6/${platform}/${arch}`;
  // The binding and the library it loads, by name (in .vscodeignore a `!` line wins over every
  // exclusion, so what to keep is named, not what to drop). macOS: npm stores the library's version
  // symlink (libonnxruntime.1.30.0.dylib) as a second 44 MB copy that nothing loads. linux-x64:
  // without .npmrc's onnxruntime-node-install=skip (which npm 11 warns it will stop passing on),
  // onnxruntime-node's postinstall downloads the CUDA 12 providers into the same folder. Windows
  // keeps the folder: onnxruntime.dll comes with DirectML and its shader compiler.
  const runtime = { darwin: 'libonnxruntime.1.dylib', linux: 'libonnxruntime.so.1' }[platform];
  const binaries = runtime ? [`!${bin}/onnxruntime_binding.node`, `!${bin}/${runtime}`] : [`!${bin}/**`];
  const lines = [
    '**',
    '!package.json', '!README.md', '!CHANGELOG.md', '!LICENSE',
    '!dist/extension.js', '!dist/engine.js', '!dist/ortWorker.js',
    '!media/**', '!vectors/manifest.json', '!vectors/*.safetensors', '!vectors/datasets/**',
    '!node_modules/onnxruntime-common/package.json', '!node_modules/onnxruntime-common/dist/cjs/**',
    '!node_modules/onnxruntime-node/package.json', '!node_modules/onnxruntime-node/dist/**',
    ...binaries,
  ];
  fs.writeFileSync('.vscodeignore', lines.join('\n') + '\n');
}

if (targetArg >= 0) writeVscodeignore(process.argv[targetArg + 1] ?? 'linux-x64');
if (watch) {
  for (const b of builds) await (await esbuild.context({ ...b, plugins: [...b.plugins, watchLog] })).watch();
} else {
  const t0 = Date.now();
  await Promise.all(builds.map((b) => esbuild.build(b)));
  const size = (f) => `${(fs.statSync(f).size / 1024).toFixed(0)} KB`;
  console.log(`esbuild: dist/extension.js ${size('dist/extension.js')}, dist/engine.js ${size('dist/engine.js')}, dist/ortWorker.js ${size('dist/ortWorker.js')} in ${Date.now() - t0} ms`);
}

// One .vsix per platform, the same bundles in each, only that platform's ONNX Runtime binaries.
// .vscodeignore is left as for linux-x64, the target `npm run package` builds.
if (packageAll) {
  const vsce = path.join('node_modules', '@vscode', 'vsce', 'vsce');
  try {
    for (const target of TARGETS) {
      writeVscodeignore(target);
      const out = path.join('dist', `kvsteer-${target}.vsix`);
      const r = spawnSync(process.execPath, [vsce, 'package', '--target', target, '--skip-license', '--out', out], { stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`vsce package --target ${target} failed (exit ${r.status ?? r.signal})`);
    }
  } finally {
    writeVscodeignore('linux-x64');
  }
}
