/**
 * The packaged extension: the linux-x64 .vsix (`npm run package`) under 100 MB that holds the two
 * bundles, the webview assets, the shipped vectors and ONNX Runtime's linux-x64 binaries, and no
 * model weights; and one .vsix per platform onnxruntime-node ships binaries for
 * (`npm run package:all`), each with the same bundles and only its own platform's binaries. Runs
 * with the end-to-end suite (KVSTEER_E2E_VSIX, KVSTEER_PACKAGES_DIR).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../support/paths';

const vsix = process.env.KVSTEER_E2E_VSIX;
const packagesDir = process.env.KVSTEER_PACKAGES_DIR;
const skip = !vsix ? 'KVSTEER_E2E_VSIX is not set (run npm run test:e2e)' : false;
const skipAll = !packagesDir ? 'KVSTEER_PACKAGES_DIR is not set (run npm run test:e2e)' : false;
if ((skip || skipAll) && process.env.KVSTEER_E2E_REQUIRED === '1') throw new Error(String(skip || skipAll));

/** The VS Code targets onnxruntime-node has binaries for (esbuild.mjs --package-all builds these). */
const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64', 'win32-arm64'] as const;

/** Every entry of a .vsix (a zip) with its uncompressed size. */
function vsixFiles(file: string): Map<string, number> {
  const list = spawnSync('python3', ['-c', 'import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.filename, i.file_size)', file], { encoding: 'utf8' });
  assert.equal(list.status, 0, list.stderr);
  return new Map(list.stdout.trim().split('\n').map((l) => { const i = l.lastIndexOf(' '); return [l.slice(0, i), Number(l.slice(i + 1))] as const; }));
}

/** What every platform's package must hold besides its binaries, and must not hold. */
function checkContents(file: string, target: (typeof TARGETS)[number]): Map<string, number> {
  const size = fs.statSync(file).size;
  const files = vsixFiles(file);
  console.log(`# ${file}: ${(size / 1e6).toFixed(1)} MB, ${files.size} files`);
  assert.ok(size < 100e6, `${file}: ${(size / 1e6).toFixed(1)} MB`);
  const [platform, arch] = target.split('-');
  const binding = `extension/node_modules/onnxruntime-node/bin/napi-v6/${platform}/${arch}/onnxruntime_binding.node`;
  for (const f of ['extension/package.json', 'extension/dist/extension.js', 'extension/dist/engine.js', 'extension/dist/ortWorker.js', 'extension/media/compare.js', 'extension/media/compare.css', 'extension/vectors/manifest.json', 'extension/vectors/smollm2-135m-reasoning.safetensors', binding]) {
    assert.ok(files.has(f), `${file}: ${f} is missing`);
  }
  const weights = [...files.keys()].filter((f) => /\.(gguf|onnx|onnx_data|bin|pt|pth|ckpt)$/i.test(f) || /model\.safetensors$/.test(f));
  assert.deepEqual(weights, [], `${file}: model weights in the package`);
  const otherPlatforms = [...files.keys()].filter((f) => /onnxruntime-node\/bin\/napi-v6\//.test(f) && !f.includes(`/napi-v6/${platform}/${arch}/`));
  assert.deepEqual(otherPlatforms, [], `${file}: another platform's binaries`);
  assert.ok(![...files.keys()].some((f) => f.includes('/src/') || f.includes('/test/')), `${file}: sources or tests packaged`);
  return files;
}

test('the .vsix is under 100 MB, holds what the extension needs and no model weights', { skip }, () => {
  checkContents(vsix!, 'linux-x64');
});

test("every platform's .vsix holds the same extension and only that platform's ONNX Runtime binaries", { skip: skipAll }, () => {
  const contents = TARGETS.map((t) => {
    assert.ok(fs.existsSync(path.join(repoRoot, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', ...t.split('-'))), `onnxruntime-node has no ${t} binaries`);
    const file = path.join(packagesDir!, `kvsteer-${t}.vsix`);
    assert.ok(fs.existsSync(file), `${file} was not built`);
    const files = checkContents(file, t);
    // The manifest VS Code reads names the target, so the marketplace serves each to its platform.
    const manifest = spawnSync('python3', ['-c', 'import sys, zipfile\nprint(zipfile.ZipFile(sys.argv[1]).read("extension.vsixmanifest").decode())', file], { encoding: 'utf8' });
    assert.match(manifest.stdout, new RegExp(`TargetPlatform="${t}"`), `${file}: manifest target`);
    return new Map([...files].filter(([f]) => !f.includes('/onnxruntime-node/bin/') && !f.endsWith('.vsixmanifest') && !f.endsWith('[Content_Types].xml') && f !== 'extension/package.json'));
  });
  for (const c of contents.slice(1)) assert.deepEqual(c, contents[0], 'the packages differ in more than their binaries');
});

test("every platform's .vsix ships the ONNX Runtime library its binding loads, once, and no GPU providers", { skip: skipAll }, () => {
  for (const t of TARGETS) {
    const file = path.join(packagesDir!, `kvsteer-${t}.vsix`);
    const list = spawnSync('python3', ['-c', 'import sys, zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.CRC, i.file_size, i.filename)', file], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    const byContent = new Map<string, string[]>();
    const binaries: string[] = [];
    for (const l of list.stdout.trim().split('\n')) {
      const [crc, size, name] = l.split(' ', 3) as [string, string, string];
      if (!name.includes('/onnxruntime-node/bin/')) continue;
      binaries.push(name);
      if (Number(size) >= 1e6) byContent.set(`${crc} ${size}`, [...(byContent.get(`${crc} ${size}`) ?? []), name]);
    }
    // npm turns the macOS library's version symlink into a second copy.
    const twice = [...byContent.values()].filter((names) => names.length > 1);
    assert.deepEqual(twice, [], `${file}: the same binary under several names`);
    // onnxruntime-node's postinstall puts the CUDA 12 providers beside the binding on linux-x64
    // unless told to skip (.npmrc); kvsteer runs on the CPU.
    const providers = binaries.filter((f) => /onnxruntime_providers_/.test(f));
    assert.deepEqual(providers, [], `${file}: execution-provider libraries`);
    // The one the binding loads is kept.
    const [platform, arch] = t.split('-');
    const runtime = { linux: 'libonnxruntime.so.1', darwin: 'libonnxruntime.1.dylib', win32: 'onnxruntime.dll' }[platform!]!;
    assert.ok(binaries.includes(`extension/node_modules/onnxruntime-node/bin/napi-v6/${platform}/${arch}/${runtime}`), `${file}: no ${runtime}`);
  }
});
