/**
 * The ids the code uses match what package.json contributes, the settings' defaults match the
 * code's defaults, and the recorded version matches the package.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHAT_COMMANDS, CHAT_PARTICIPANT, CHAT_PARTICIPANT_NAME, COMMANDS, LANGUAGE_MODEL_VENDOR, SETTINGS, SETTINGS_SECTION } from '../../src/ids';
import { DEFAULT_SETTINGS, validateSettings } from '../../src/config/settingsSchema';
import { RESTRICTED_SETTINGS } from '../../src/config/settingScopes';
import { KVSTEER_VERSION } from '../../src/engine/version';
import { repoRoot } from '../support/paths';

const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));

test('every command id is contributed, with the titles users see', () => {
  const contributed = new Map<string, string>(pkg.contributes.commands.map((c: { command: string; title: string }) => [c.command, c.title]));
  assert.deepEqual([...contributed.keys()].sort(), Object.values(COMMANDS).sort());
  assert.equal(contributed.get(COMMANDS.ask), 'Ask with reasoning steering');
  for (const c of pkg.contributes.commands) assert.equal(c.category, 'KV Steer');
});

test('the chat participant and its slash commands are contributed', () => {
  const [p] = pkg.contributes.chatParticipants;
  assert.equal(p.id, CHAT_PARTICIPANT);
  assert.equal(p.name, CHAT_PARTICIPANT_NAME);
  assert.deepEqual(p.commands.map((c: { name: string }) => c.name).sort(), Object.values(CHAT_COMMANDS).sort());
});

test('the language-model provider is contributed under the vendor the code registers', () => {
  assert.deepEqual(pkg.contributes.languageModelChatProviders, [{ vendor: LANGUAGE_MODEL_VENDOR, displayName: 'KV Steer (local)' }]);
});

test('every setting key is contributed with a description, and defaults agree with the code', () => {
  const props = pkg.contributes.configuration.properties as Record<string, { default: unknown; description?: string; markdownDescription?: string }>;
  const keys = Object.values(SETTINGS).map((k) => `${SETTINGS_SECTION}.${k}`);
  assert.deepEqual(Object.keys(props).sort(), keys.sort());
  for (const [k, v] of Object.entries(props)) assert.ok(v.description || v.markdownDescription, `${k} has no description`);
  // The Settings editor lists them by `order`: one place each.
  const orders = Object.values(props).map((v) => (v as { order?: number }).order);
  assert.equal(new Set(orders).size, orders.length, `orders: ${orders.join(', ')}`);
  // Every contributed default, read as a configured value, gives what the code uses when nothing
  // is set; with sampling on too, so the sampling defaults are read as well.
  const contributed = (extra: Record<string, unknown>) => {
    const values: Record<string, unknown> = { ...extra };
    for (const [k, v] of Object.entries(props)) if (!(k.slice(SETTINGS_SECTION.length + 1) in values)) values[k.slice(SETTINGS_SECTION.length + 1)] = v.default;
    return validateSettings((k) => values[k]);
  };
  for (const extra of [{}, { 'decoding.mode': 'sampling' }]) {
    const got = contributed(extra);
    const unset = validateSettings((k) => (extra as Record<string, unknown>)[k]);
    assert.ok(got.ok && unset.ok, JSON.stringify([got, unset]));
    assert.deepEqual(got.settings, unset.settings, `with ${JSON.stringify(extra)}`);
  }
  const plain = contributed({});
  assert.ok(plain.ok);
  assert.deepEqual(plain.settings, DEFAULT_SETTINGS);
});

test('in an untrusted workspace the extension runs, with the settings that name files to load restricted', () => {
  const trust = pkg.capabilities?.untrustedWorkspaces;
  assert.equal(trust?.supported, 'limited');
  assert.ok(trust.description?.length > 0);
  // The keys kvsteer itself reads from the user's settings only are the ones VS Code sets aside.
  assert.deepEqual(trust.restrictedConfigurations, RESTRICTED_SETTINGS.map((k) => `${SETTINGS_SECTION}.${k}`));
  for (const k of trust.restrictedConfigurations) assert.ok(pkg.contributes.configuration.properties[k], `${k} is not a contributed setting`);
});

test('the engine records the package version', () => {
  assert.equal(KVSTEER_VERSION, pkg.version);
});

test('the engine never imports vscode', () => {
  const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  for (const f of walk(path.join(repoRoot, 'src', 'engine'))) {
    assert.doesNotMatch(fs.readFileSync(f, 'utf8'), /from ['"]vscode['"]|require\(['"]vscode['"]\)/, f);
  }
});

test('the editor layer reaches engine runtime code only through the lazy loader', () => {
  // Static value imports of heavy engine modules would load ONNX Runtime at activation.
  const light = /engine\/(util\/errors|steering\/limits|generation\/repeatPenalty|generation\/samplingDefaults|generation\/formatMsPerToken|chatHistory|promptAttachments|version)$/;
  const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  // Everything under src/ but the engine itself and the CLI (which loads it anyway); whole
  // statements, so an import spread over several lines is read too.
  const editor = walk(path.join(repoRoot, 'src')).filter((f) => !/[\\/]src[\\/](engine|cli)[\\/]/.test(f));
  const statement = /^(?:import|export)\s+(?!type\b)[^;]*?from\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)/gm;
  let seen = 0;
  for (const f of editor) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(statement)) {
      const from = m[1] ?? m[2];
      if (!/engine\//.test(from)) continue;
      seen++;
      // The lazy loader itself (src/service/engine.ts), a require at the first request.
      if (f === path.join(repoRoot, 'src', 'service', 'engine.ts') && m[2] === '../engine/index') continue;
      assert.match(from, light, `${f}: ${m[0]}`);
    }
  }
  assert.ok(editor.some((f) => f.endsWith('extension.ts')) && seen > 5, `read ${editor.length} files, ${seen} engine imports`);
  // The check reads a statement spread over lines, as written by a formatter.
  assert.equal([..."import {\n  loadModel,\n} from '../engine/model/loadModel';".matchAll(statement)][0]?.[1], '../engine/model/loadModel');
});

test('nothing activation loads reaches ONNX Runtime or transformers.js, directly or through another module', () => {
  // Follows every static value import from src/extension.ts, as the bundler does, into light
  // modules' own imports and into directory imports (`../engine` is engine/index).
  const heavy = new Set(['onnxruntime-node', 'onnxruntime-common', '@huggingface/transformers', 'protobufjs']);
  const lazyLoader = path.join(repoRoot, 'src', 'service', 'engine.ts');
  // Also a bare `import './x'`, loaded for its side effects.
  const statement = /^(?:import|export)\s+(?!type\b)[^;]*?from\s+['"]([^'"]+)['"]|require\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]/gm;
  const resolve = (from: string, spec: string): string => {
    const p = path.resolve(path.dirname(from), spec);
    const file = [`${p}.ts`, path.join(p, 'index.ts')].find((f) => fs.existsSync(f));
    assert.ok(file, `${from}: cannot resolve ${spec}`);
    return file;
  };
  const reached = new Map<string, string>([[path.join(repoRoot, 'src', 'extension.ts'), 'activate']]);
  const queue = [...reached.keys()];
  for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(statement)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      // The one lazy require, at the first request.
      if (f === lazyLoader && m[2] === '../engine/index') continue;
      assert.ok(!heavy.has(spec), `activation loads ${spec}: ${[f, ...chain(f)].map((x) => path.relative(repoRoot, x)).join(' ← ')}`);
      if (!spec.startsWith('.')) continue;
      const target = resolve(f, spec);
      if (!reached.has(target)) { reached.set(target, f); queue.push(target); }
    }
  }
  function chain(f: string): string[] { const up = reached.get(f); return up && up !== 'activate' ? [up, ...chain(up)] : []; }
  assert.ok(reached.size > 10, `followed ${reached.size} files`);
});
