/**
 * The extension host's model service on the tiny model: lazy loading, queueing of concurrent
 * requests, cancellation mid-generation (the model stays usable), freeing the old model when the
 * model setting changes or after the keep-alive time, and clear messages for unknown vectors and
 * vectors for another model.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEFAULT_SETTINGS, KvsteerSettings } from '../../src/config/settingsSchema';
import { ServiceDeps, SteeringService } from '../../src/service/steeringService';
import { loadModel, LoadedModel } from '../../src/engine/model/loadModel';
import { saveVector } from '../../src/engine/steering/vectorFile';
import { upsertManifest } from '../../src/engine/steering/vectorManifest';
import { writeTinyRandomGguf } from '../../src/engine/model/tinyRandomModel';
import { KvsteerError } from '../../src/engine/util/errors';
import { fakeVector } from '../support/fakeVector';
import { tinyGgufPath } from '../support/models';
import { repoRoot } from '../support/paths';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-service-'));
const vectors = path.join(dir, 'vectors');
const otherGguf = path.join(dir, 'other.gguf');
writeTinyRandomGguf(otherGguf, { layers: 3, seed: 99 });

/** Counts loads and disposals so tests can see what the service keeps resident. */
const loads: string[] = [];
const disposed: string[] = [];
/** `load`, recording each model's name in `loaded` when it loads and in `freed` when it is freed. */
function recorded(load: typeof loadModel, loaded: string[], freed: string[]): typeof loadModel {
  return async (spec, opts) => {
    const m = await load(spec, opts);
    loaded.push(m.name);
    const inner = m.dispose.bind(m);
    return { ...m, dispose: async () => { freed.push(m.name); await inner(); } } as LoadedModel;
  };
}
const countingLoad = recorded(loadModel, loads, disposed);
/** A service on the test's cache and vectors, loading through countingLoad unless told otherwise. */
const newService = (deps: Partial<ServiceDeps> = {}) => new SteeringService({ cacheDir: path.join(dir, 'cache'), vectorDirs: [vectors], log: () => {}, loadModel: countingLoad, ...deps });
const logs: string[] = [];
const service = newService({ log: (m) => logs.push(m) });
after(() => service.dispose());

const settings = (over: Partial<KvsteerSettings> = {}): KvsteerSettings => ({ ...DEFAULT_SETTINGS, model: tinyGgufPath(), vector: 'tiny-fake', maxNewTokens: 12, threads: 1, ...over });

test('the first request loads the model lazily, later ones reuse it', async () => {
  // A vector for the tiny model, listed in the manifest under the id the settings use.
  const m = await loadModel(tinyGgufPath(), { cacheDir: path.join(dir, 'cache'), threads: 1 });
  saveVector(path.join(vectors, 'tiny.safetensors'), fakeVector(m));
  upsertManifest(vectors, 'tiny-fake', 'tiny.safetensors', fakeVector(m));
  await m.dispose();
  assert.equal(service.loadedModel, undefined, 'nothing loads before the first request');
  const states: string[] = [];
  const sub = service.onStateChange((s) => states.push(s));
  const a = await service.ask(settings(), { question: 'hello', mode: 'compare' });
  const b = await service.ask(settings(), { question: 'again', mode: 'steered' });
  sub.dispose();
  assert.ok(a.baseline && a.steered && b.steered);
  assert.deepEqual(loads, ['tiny']);
  assert.deepEqual(states.slice(0, 3), ['loading', 'generating', 'idle']);
  assert.equal(service.loadedModelSetting, tinyGgufPath(), 'the setting the resident model was loaded for');
});

test('the repeat penalty setting reaches both answers of a comparison', async () => {
  const plain = await service.ask(settings({ maxNewTokens: 24 }), { question: 'hello', mode: 'compare' });
  const penalised = await service.ask(settings({ maxNewTokens: 24, repeatPenalty: { penalty: 2, lastN: 16 } }), { question: 'hello', mode: 'compare' });
  assert.notDeepEqual(penalised.baseline!.tokens, plain.baseline!.tokens);
  assert.notDeepEqual(penalised.steered!.tokens, plain.steered!.tokens);
});

test("the vector's strength for the repeat penalty in use is applied unless the settings give one", async () => {
  const m = await loadModel(tinyGgufPath(), { cacheDir: path.join(dir, 'cache'), threads: 1 });
  const v = fakeVector(m);
  await m.dispose();
  v.meta.recommended.withRepeatPenalty = [{ penalty: 1.1, lastN: 32, cK: 0, cV: 7 }];
  saveVector(path.join(vectors, 'tiny-rp.safetensors'), v);
  upsertManifest(vectors, 'tiny-rp', 'tiny-rp.safetensors', v);
  const cV = async (over: Partial<KvsteerSettings>) => (await service.ask(settings({ vector: 'tiny-rp', maxNewTokens: 2, ...over }), { question: 'hello', mode: 'steered' })).steered!.cV;
  assert.equal(await cV({}), 4);
  assert.equal(await cV({ repeatPenalty: { penalty: 1.1, lastN: 32 } }), 7);
  assert.equal(await cV({ repeatPenalty: { penalty: 1.1, lastN: 64 } }), 4);
  assert.equal(await cV({ repeatPenalty: { penalty: 1.1, lastN: 32 }, cV: 5 }), 5);
});

test("the steered side uses the vector's offset token unless the settings give one", async () => {
  const m = await loadModel(tinyGgufPath(), { cacheDir: path.join(dir, 'cache'), threads: 1 });
  const v = fakeVector(m);
  await m.dispose();
  // Several tokens for this model: only a request that really uses the vector's offset token fails.
  v.meta.recommended.offsetToken = 'kvsteer offset';
  saveVector(path.join(vectors, 'tiny-offset.safetensors'), v);
  upsertManifest(vectors, 'tiny-offset', 'tiny-offset.safetensors', v);
  await assert.rejects(service.ask(settings({ vector: 'tiny-offset' }), { question: 'hello', mode: 'steered' }), /the offset token "kvsteer offset" is \d+ tokens for this model/);
  const given = await service.ask(settings({ vector: 'tiny-offset', offsetToken: '\n' }), { question: 'hello', mode: 'steered' });
  assert.ok(given.steered && given.steered.tokens.length > 0);
});

test('a vector extracted again under the same name is read again on the next request', async () => {
  const m = await loadModel(tinyGgufPath(), { cacheDir: path.join(dir, 'cache'), threads: 1 });
  const v = fakeVector(m);
  await m.dispose();
  const save = (cV: number) => {
    v.meta.recommended.cV = cV;
    saveVector(path.join(vectors, 'tiny-same-name.safetensors'), v);
    upsertManifest(vectors, 'tiny-same-name', 'tiny-same-name.safetensors', v);
  };
  const cV = async () => (await service.ask(settings({ vector: 'tiny-same-name', maxNewTokens: 2 }), { question: 'hello', mode: 'steered' })).steered!.cV;
  save(3);
  assert.equal(await cV(), 3);
  assert.equal(await cV(), 3);
  const reads = logs.filter((l) => l.startsWith('Using steering vector tiny-same-name')).length;
  assert.equal(reads, 1, 'an unchanged vector is read once');
  save(5);
  assert.equal(await cV(), 5);
  assert.ok(logs.some((l) => l === 'Steering vector tiny-same-name changed on disk; reading it again'));
});

test('the log says once when the vector in use was extracted on another model, and nothing for one made on the loaded model', async () => {
  const m = await loadModel(tinyGgufPath(), { cacheDir: path.join(dir, 'cache'), threads: 1 });
  const v = fakeVector(m);
  await m.dispose();
  v.meta.model = { ...v.meta.model, name: 'tiny-base', id: 'tiny-base' };
  saveVector(path.join(vectors, 'tiny-transferred.safetensors'), v);
  upsertManifest(vectors, 'tiny-transferred', 'tiny-transferred.safetensors', v);
  const seen = logs.length;
  const r = await service.ask(settings({ vector: 'tiny-transferred', maxNewTokens: 2 }), { question: 'hello', mode: 'steered' });
  await service.ask(settings({ vector: 'tiny-transferred', maxNewTokens: 2 }), { question: 'again', mode: 'steered' });
  const notes = logs.slice(seen).filter((l) => l.startsWith('Note: '));
  assert.deepEqual(notes, [`Note: ${r.steered!.vectorNote}`]);
  assert.match(notes[0], /^Note: steering vector "fake" was extracted on tiny-base, not on the loaded tiny;/);
  const before = logs.length;
  await service.ask(settings({ maxNewTokens: 2 }), { question: 'hello', mode: 'steered' });
  assert.ok(logs.slice(before).some((l) => l.startsWith('Using steering vector tiny-fake')));
  assert.ok(!logs.slice(before).some((l) => l.startsWith('Note: ')), 'a vector made on the loaded model gets no note');
});

test("a rerun of the steered side at another strength, or the same question again, skips the prefill; a new question does not", async () => {
  const first = await service.ask(settings(), { question: 'tell me a story', mode: 'compare' });
  assert.equal(first.steered!.prefillReused, true, "the comparison's steered side edits the baseline's prefill");
  const rerun = await service.ask(settings({ cV: 9 }), { question: 'tell me a story', mode: 'steered' });
  assert.equal(rerun.steered!.prefillReused, true);
  assert.equal(rerun.steered!.cV, 9);
  const retry = await service.ask(settings(), { question: 'tell me a story', mode: 'baseline' });
  assert.equal(retry.baseline!.prefillReused, true);
  assert.deepEqual(retry.baseline!.tokens, first.baseline!.tokens);
  const other = await service.ask(settings(), { question: 'tell me a joke', mode: 'steered' });
  assert.equal(other.steered!.prefillReused, false);
});

test('two concurrent requests are queued: the second starts when the first is done', async () => {
  const events: string[] = [];
  const req = (name: string) =>
    service.ask(settings({ maxNewTokens: 8 }), {
      question: `question ${name}`,
      mode: 'compare',
      onSideStart: (side) => events.push(`${name}:start:${side}`),
      onToken: () => events.push(`${name}:token`),
    });
  const [r1, r2] = await Promise.all([req('A'), req('B')]);
  assert.ok(r1.steered && r2.steered);
  const lastA = events.lastIndexOf('A:token');
  const firstB = events.indexOf('B:start:baseline');
  assert.ok(firstB > lastA, `B started before A finished: ${events.join(' ')}`);
  assert.equal(service.pendingRequests, 0);
});

test('cancelling mid-generation stops the answer and the model stays usable', async () => {
  const ac = new AbortController();
  let tokens = 0;
  const r = await service.ask(settings({ maxNewTokens: 200 }), {
    question: 'tell me everything',
    mode: 'baseline',
    signal: ac.signal,
    onToken: () => {
      if (++tokens === 3) ac.abort();
    },
  });
  assert.equal(r.baseline!.stopReason, 'cancelled');
  assert.equal(r.baseline!.tokens.length, 3);
  const again = await service.ask(settings(), { question: 'still there?', mode: 'steered' });
  assert.ok(again.steered!.tokens.length > 0);
  assert.deepEqual(loads, ['tiny'], 'cancellation did not reload the model');
});

test('changing the model setting frees the old model; the next request loads the new one', async () => {
  await service.settingsChanged(settings({ model: otherGguf }));
  assert.deepEqual(disposed, ['tiny']);
  assert.equal(service.loadedModel, undefined);
  assert.equal(service.loadedModelSetting, undefined);
  const r = await service.ask(settings({ model: otherGguf }), { question: 'hi', mode: 'baseline' });
  assert.ok(r.baseline);
  assert.deepEqual(loads, ['tiny', 'other']);
  assert.equal(service.loadedModelSetting, otherGguf);
});

test('a vector made for another model gives a clear message and no crash', async () => {
  // The "other" model (3 layers) is resident; the tiny vector has 2 layers.
  await assert.rejects(service.ask(settings({ model: otherGguf }), { question: 'hi', mode: 'steered' }), (e: unknown) => e instanceof KvsteerError && e.code === 'VECTOR_MISMATCH' && /made for tiny/.test(e.message));
  const r = await service.ask(settings({ model: otherGguf }), { question: 'hi', mode: 'baseline' });
  assert.ok(r.baseline, 'the service still answers');
});

test('a comparison whose vector does not fit still answers the baseline and says what to do', async () => {
  // "other" (3 layers) is resident; the configured tiny vector has 2 layers.
  const r = await service.ask(settings({ model: otherGguf }), { question: 'hi', mode: 'compare' });
  assert.ok(r.baseline && r.baseline.tokens.length > 0);
  assert.equal(r.steered, undefined);
  assert.match(r.steeredError ?? '', /made for tiny.*Extract one for this model with "KV Steer: Extract steering vector from examples…"/);
});

test('when the default vector is for another model, a vector listed for the loaded model is used', async () => {
  // The user's own vectors (one fits "other"), the test's, and the shipped ones (for SmolLM2).
  const userVectors = path.join(dir, 'user-vectors');
  const m = await loadModel(otherGguf, { cacheDir: path.join(dir, 'cache'), threads: 1 });
  saveVector(path.join(userVectors, 'other.safetensors'), fakeVector(m));
  upsertManifest(userVectors, 'other-fake', 'other.safetensors', fakeVector(m));
  await m.dispose();
  const withShipped = new SteeringService({ cacheDir: path.join(dir, 'cache'), vectorDirs: [userVectors, vectors, path.join(repoRoot, 'vectors')], log: (l) => logs.push(l) });
  try {
    const r = await withShipped.ask(settings({ model: otherGguf, vector: DEFAULT_SETTINGS.vector }), { question: 'hi', mode: 'compare' });
    assert.ok(r.steered && r.steered.tokens.length > 0, r.steeredError);
    assert.equal(r.vectorId, 'other-fake');
    assert.ok(logs.some((l) => /default vector smollm2-135m-reasoning is for another model; using other-fake/.test(l)));
    // A vector the user named explicitly is never swapped: it fails with the reason instead.
    await assert.rejects(withShipped.ask(settings({ model: otherGguf, vector: 'tiny-fake' }), { question: 'hi', mode: 'steered' }), /made for tiny/);
  } finally {
    await withShipped.dispose();
  }
});

test('an unknown vector id names the known ones', async () => {
  await assert.rejects(service.ask(settings({ vector: 'nope' }), { question: 'hi', mode: 'steered' }), (e: unknown) => e instanceof KvsteerError && /unknown steering vector "nope" \(known: tiny-fake/.test(e.message));
});

/** Polls until `done()` holds (or fails after `ms`). */
async function until(done: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('the model is freed after the keep-alive time without requests, and the next request loads it again', async () => {
  const freedLog: string[] = [];
  const idle = newService({ log: (l) => freedLog.push(l) });
  try {
    const before = loads.length;
    // 0.005 minutes = 300 ms.
    const keep = settings({ keepAliveMinutes: 0.005 });
    const notified: string[] = [];
    const sub = idle.onStateChange((s) => notified.push(`${s}:${idle.loadedModel ? 'loaded' : 'none'}`));
    await idle.ask(keep, { question: 'hello', mode: 'baseline' });
    // A request within the time reuses the model and starts the time again.
    await idle.ask(keep, { question: 'again', mode: 'baseline' });
    assert.equal(loads.length - before, 1);
    assert.ok(idle.loadedModel);
    await until(() => idle.loadedModel === undefined, 5000, 'the idle model is freed');
    sub.dispose();
    assert.ok(freedLog.some((l) => l === 'Freeing model tiny after 0.005 min without requests (kvsteer.keepAlive)'), freedLog.join('\n'));
    // The status bar hears of it (its tooltip says whether a model is loaded).
    assert.equal(notified.at(-1), 'idle:none');
    const r = await idle.ask(keep, { question: 'hello', mode: 'baseline' });
    assert.ok(r.baseline && r.baseline.tokens.length > 0);
    assert.equal(loads.length - before, 2);
  } finally {
    await idle.dispose();
  }
});

test('keep-alive 0 frees the model after each request; -1 keeps it; a changed keep-alive counts from the change', async () => {
  const idle = newService();
  try {
    await idle.ask(settings({ keepAliveMinutes: 0 }), { question: 'hello', mode: 'baseline' });
    await until(() => idle.loadedModel === undefined, 5000, 'keep-alive 0 frees the model');
    await idle.ask(settings({ keepAliveMinutes: -1 }), { question: 'hello', mode: 'baseline' });
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(idle.loadedModel, 'keep-alive -1 keeps the model');
    await idle.settingsChanged(settings({ keepAliveMinutes: 0 }));
    await until(() => idle.loadedModel === undefined, 5000, 'setting keep-alive 0 frees the idle model');
  } finally {
    await idle.dispose();
  }
});

test('"Free model memory" frees the model after the request that is running, which still answers', async () => {
  const lines: string[] = [];
  const svc = newService({ log: (l) => lines.push(l) });
  try {
    assert.equal(await svc.freeModel(), undefined, 'nothing to free before the first request');
    const running = svc.ask(settings({ keepAliveMinutes: -1, maxNewTokens: 24 }), { question: 'tell me a story', mode: 'compare' });
    const freed = svc.freeModel();
    const answer = await running;
    assert.ok(answer.baseline!.tokens.length > 0 && answer.steered!.tokens.length > 0);
    assert.equal(await freed, 'tiny');
    assert.equal(svc.loadedModel, undefined);
    assert.ok(lines.includes('Freeing model tiny at your request (KV Steer: Free model memory)'), lines.join('\n'));
    // The next request loads it again.
    assert.ok((await svc.ask(settings(), { question: 'hello', mode: 'baseline' })).baseline);
    assert.ok(svc.loadedModel);
  } finally {
    await svc.dispose();
  }
});

test('another kvsteer.precision reloads a model imported from GGUF, and no other (it applies to GGUF imports only)', async () => {
  // The tiny GGUF's import is a folder in the Hugging Face layout: loaded as a folder, precision has nothing to change.
  const imported = await loadModel(tinyGgufPath(), { cacheDir: path.join(dir, 'cache'), threads: 1 });
  const folder = imported.folder;
  await imported.dispose();
  const svc = newService();
  try {
    const before = loads.length;
    const exact = settings({ model: folder, precision: 'exact', keepAliveMinutes: -1 });
    const fast = { ...exact, precision: 'fast' } as const;
    await svc.ask(exact, { question: 'hello', mode: 'baseline' });
    await svc.settingsChanged(fast);
    assert.ok(svc.loadedModel, 'the folder model stays loaded when the precision changes');
    await svc.ask(fast, { question: 'hello', mode: 'baseline' });
    assert.equal(loads.length - before, 1, 'the folder model was not loaded again');
    // A GGUF import is converted with the precision: another one is another model.
    const gguf = settings({ precision: 'exact', keepAliveMinutes: -1 });
    await svc.ask(gguf, { question: 'hello', mode: 'baseline' });
    await svc.settingsChanged({ ...gguf, precision: 'fast' });
    assert.equal(svc.loadedModel, undefined, 'the GGUF model is freed when the precision changes');
    assert.equal(loads.length - before, 2);
  } finally {
    await svc.dispose();
  }
});

test('a request cancelled while it waits for its turn ends at once, and the queue goes on', async () => {
  const svc = newService();
  try {
    // A request that holds the model until the test lets it go (an answer of a minute, in the editor).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let running!: () => void;
    const started = new Promise<void>((r) => (running = r));
    const first = svc.run(settings(), { needVector: false }, async () => {
      running();
      await held;
      return 'first';
    });
    await started;
    const ac = new AbortController();
    let answered = false;
    const waiting = svc.ask(settings(), { question: 'hello', mode: 'baseline', signal: ac.signal, onToken: () => void (answered = true) });
    ac.abort();
    const outcome = await Promise.race([waiting.then(() => 'answered', (e: unknown) => (e instanceof KvsteerError && e.code === 'CANCELLED' ? 'cancelled' : `failed: ${String(e)}`)), new Promise((r) => setTimeout(() => r('still waiting'), 1000))]);
    assert.equal(outcome, 'cancelled', 'the cancelled request ended while the one before it was running');
    release();
    assert.equal(await first, 'first');
    assert.equal(answered, false, 'the cancelled request never generated');
    const next = await svc.ask(settings(), { question: 'hello', mode: 'baseline' });
    assert.ok(next.baseline && next.baseline.tokens.length > 0);
    assert.equal(svc.pendingRequests, 0);
  } finally {
    await svc.dispose();
  }
});

test('a model setting changed while the model loads frees that model once the load is done', async () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const loaded: string[] = [];
  const freed: string[] = [];
  // Loads only once the test opens the gate: the setting changes while the load is under way.
  const slowLoad = recorded(async (spec, opts) => (await gate, loadModel(spec, opts)), loaded, freed);
  const svc = newService({ loadModel: slowLoad });
  try {
    const asked = svc.ask(settings({ keepAliveMinutes: -1 }), { question: 'hello', mode: 'baseline' });
    const changed = svc.settingsChanged(settings({ model: otherGguf, keepAliveMinutes: -1 }));
    open();
    assert.ok((await asked).baseline, 'the request under way still answers');
    await changed;
    assert.deepEqual(loaded, ['tiny']);
    assert.deepEqual(freed, ['tiny'], 'the model the old setting named is freed');
    assert.equal(svc.loadedModel, undefined);
    // Changed back before the load is done: the model is the one named, and it stays.
    let reopen!: () => void;
    const gate2 = new Promise<void>((r) => (reopen = r));
    const svc2 = newService({ loadModel: async (spec, opts) => (await gate2, slowLoad(spec, opts)) });
    try {
      const asked2 = svc2.ask(settings({ keepAliveMinutes: -1 }), { question: 'hello', mode: 'baseline' });
      const away = svc2.settingsChanged(settings({ model: otherGguf, keepAliveMinutes: -1 }));
      const back = svc2.settingsChanged(settings({ keepAliveMinutes: -1 }));
      reopen();
      await asked2;
      await Promise.all([away, back]);
      assert.equal(svc2.loadedModel?.name, 'tiny', 'the model the latest setting names is kept');
    } finally {
      await svc2.dispose();
    }
  } finally {
    await svc.dispose();
  }
});

test('a GGUF that loads only by working around a fault says so in the log', async () => {
  const bad = path.join(dir, 'bad-eos.gguf');
  writeTinyRandomGguf(bad, { metadata: { 'tokenizer.ggml.eos_token_id': { type: 'u32', value: 5000 } } });
  const lines: string[] = [];
  const svc = newService({ log: (m) => lines.push(m) });
  try {
    await svc.ask(settings({ model: bad }), { question: 'hello', mode: 'baseline' });
    assert.ok(lines.some((l) => l.startsWith(`Warning: ${bad}: tokenizer.ggml.eos_token_id is 5000, outside the vocabulary`)), lines.join('\n'));
  } finally {
    await svc.dispose();
  }
});

test("a GGUF's load warning is logged once however often the model reloads, and a new warning still is", async () => {
  const bad = path.join(dir, 'bad-eos-reloaded.gguf');
  writeTinyRandomGguf(bad, { metadata: { 'tokenizer.ggml.eos_token_id': { type: 'u32', value: 5000 } } });
  const lines: string[] = [];
  const svc = newService({ log: (m) => lines.push(m) });
  const warnings = () => lines.filter((l) => l.startsWith(`Warning: ${bad}:`));
  const ask = (over: Partial<KvsteerSettings> = {}) => svc.ask(settings({ model: bad, keepAliveMinutes: -1, maxNewTokens: 2, ...over }), { question: 'hello', mode: 'baseline' });
  try {
    await ask();
    // Reloads: another precision, then another model and back.
    await svc.settingsChanged(settings({ model: bad, precision: 'fast', keepAliveMinutes: -1 }));
    await ask({ precision: 'fast' });
    await ask({ model: tinyGgufPath() });
    await ask();
    assert.equal(lines.filter((l) => l.startsWith(`Loading model ${bad}`)).length, 3, lines.join('\n'));
    assert.equal(warnings().length, 1, lines.join('\n'));
    // The same file with another fault: its warning is new, and logged.
    writeTinyRandomGguf(bad, { metadata: { 'tokenizer.ggml.bos_token_id': { type: 'u32', value: 6000 } } });
    await ask({ precision: 'fast' });
    assert.equal(warnings().length, 2, lines.join('\n'));
    assert.match(warnings()[1]!, /tokenizer\.ggml\.bos_token_id is 6000, outside the vocabulary/);
  } finally {
    await svc.dispose();
  }
});
