/**
 * Hub models through transformers.js's own download and cache, against a simulated hub: its fetch
 * (env.fetch) serves local folders as huggingface.co would, or fails as Node's fetch does without
 * a network. No real network is used.
 */
import { test, after, beforeEach } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel, LoadOptions, LoadProgress } from '../../../src/engine/model/loadModel';
import { loadTinyModel } from '../../support/models';
import { editJsonFile, takeTemplateOut } from '../../support/modelFolders';
import { smallDisk, smallDiskSkip } from '../../support/smallDisk';

type Transformers = typeof import('@huggingface/transformers', { with: { 'resolution-mode': 'import' } });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvsteer-hub-'));
const tinyP = loadTinyModel();
const tfP: Promise<Transformers> = import('@huggingface/transformers');

/** Repositories the simulated hub serves: id → folder. */
const repos = new Map<string, string>();
/** Files fetched since the last reset, as "id/file". */
let requests: string[] = [];
let network: 'up' | 'down' = 'up';
/** A file whose download breaks off after its first chunk. */
let breakOn: string | undefined;
/** A file the hub answers with a 500. */
let serverErrorOn: string | undefined;

const realFetch = tfP.then((tf) => tf.env.fetch);
after(async () => {
  (await tfP).env.fetch = await realFetch;
  await (await tinyP).dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  requests = [];
  network = 'up';
  breakOn = undefined;
  serverErrorOn = undefined;
  (await tfP).env.fetch = simulatedFetch;
});

function offline(): never {
  const cause = Object.assign(new Error('getaddrinfo ENOTFOUND huggingface.co'), { code: 'ENOTFOUND', hostname: 'huggingface.co' });
  throw new TypeError('fetch failed', { cause });
}

async function simulatedFetch(url: string | URL, init?: { method?: string }): Promise<Response> {
  const m = new URL(url.toString()).pathname.match(/^\/([^/]+\/[^/]+)\/resolve\/[^/]+\/(.*)$/);
  if (network === 'down') offline();
  if (!m) return new Response('not found', { status: 404 });
  const [, id, file] = m;
  requests.push(`${id}/${file}`);
  const f = repos.has(id) ? path.join(repos.get(id)!, decodeURIComponent(file)) : undefined;
  if (!f || !fs.existsSync(f)) return new Response('Entry not found', { status: 404 });
  if (file === serverErrorOn && init?.method !== 'HEAD') return new Response('Internal Server Error', { status: 500 });
  const data = fs.readFileSync(f);
  const headers = { 'content-length': String(data.length) };
  if (init?.method === 'HEAD') return new Response(null, { status: 200, headers });
  // In four chunks, so downloads report progress along the way.
  const chunk = Math.max(1, Math.ceil(data.length / 4));
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (file === breakOn && sent > 0) return c.error(new TypeError('terminated', { cause: new Error('other side closed') }));
      if (sent >= data.length) return c.close();
      c.enqueue(data.subarray(sent, sent + chunk));
      sent += chunk;
    },
  });
  return new Response(body, { status: 200, headers });
}

let served = 0;
/** Serves a copy of the tiny model's folder, changed by `edit`, under a new id. */
async function serve(edit: (folder: string) => void = () => undefined): Promise<string> {
  const id = `sim-org/tiny-${++served}`;
  const folder = path.join(dir, 'hub-repos', id);
  fs.cpSync((await tinyP).folder, folder, { recursive: true });
  edit(folder);
  repos.set(id, folder);
  return id;
}

const cacheDir = path.join(dir, 'cache');
const load = (id: string, opts: LoadOptions = {}) => loadModel(id, { cacheDir, threads: 1, ...opts });

test('a hub model already in the cache loads with the network down, asking the hub nothing', async () => {
  // Without the optional generation_config.json, which transformers.js asks the hub for every time.
  const id = await serve((d) => fs.rmSync(path.join(d, 'generation_config.json')));
  await (await load(id)).dispose();
  assert.ok(requests.includes(`${id}/onnx/model.onnx`), 'downloaded first');
  requests = [];
  network = 'down';
  const m = await load(id);
  assert.equal(m.config.vocabSize, 288);
  assert.ok(m.tokenizer.hasChatTemplate);
  assert.deepEqual(requests, []);
  await m.dispose();
});

test('a hub model with a file missing from the cache fetches that file only', async () => {
  const id = await serve();
  await (await load(id)).dispose();
  fs.rmSync(path.join(cacheDir, 'hub', id, 'onnx', 'model.onnx_data'));
  requests = [];
  const m = await load(id);
  assert.ok(requests.includes(`${id}/onnx/model.onnx_data`), requests.join());
  assert.ok(!requests.some((r) => /tokenizer|config\.json/.test(r)), requests.join());
  await m.dispose();
});

test("partial downloads of processes killed mid-download are removed when the model is fetched again; a live process's are kept", async () => {
  const id = await serve();
  const repo = path.join(cacheDir, 'hub', id);
  await (await load(id)).dispose();
  fs.rmSync(path.join(repo, 'onnx', 'model.onnx_data'));
  // A process that has ended: its pid is free.
  const dead = spawnSync(process.execPath, ['-e', '']).pid!;
  const stale = [path.join(repo, 'onnx', `model.onnx_data.tmp.${dead}.k3x9`), path.join(repo, 'onnx', `.model.onnx.tmp-${dead}-a1b2c3d4`)];
  const live = [path.join(repo, 'onnx', `model.onnx_data.tmp.${process.pid}.zz01`), path.join(repo, `tokenizer.json.tmp.${process.ppid}.q1`)];
  for (const f of [...stale, ...live]) fs.writeFileSync(f, 'partial');
  await (await load(id)).dispose();
  assert.deepEqual(stale.filter((f) => fs.existsSync(f)), [], 'stale partial downloads left');
  assert.deepEqual(live.filter((f) => !fs.existsSync(f)), [], "a live process's partial download was removed");
  for (const f of live) fs.rmSync(f);
});

test('a hub model not in the cache, with the network down, names the model, the hub, the cause and the cache folder', async () => {
  const id = await serve();
  network = 'down';
  await assert.rejects(load(id), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'MODEL_LOAD_FAILED');
    assert.equal(e.message, `cannot download ${id} from huggingface.co (getaddrinfo ENOTFOUND huggingface.co); offline? A model already downloaded loads from ${path.join(cacheDir, 'hub')}`);
    return true;
  });
});

test('a download that cannot fit on the disk fails with DISK_FULL naming the cache before it starts, and loads once there is room (before: a bare ENOSPC mid-download, which ended the CLI)', { skip: smallDiskSkip }, async () => {
  const id = await serve();
  // Room for the tokenizer and the graph (~35 KB) but not its weights (~130 KB more).
  const disk = smallDisk(96)!;
  await assert.rejects(loadModel(id, { cacheDir: disk, threads: 1 }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'DISK_FULL', e.message);
    assert.match(e.message, new RegExp(`^${path.join(disk, 'hub', id)}: the disk is full \\(ENOSPC\\): downloading ${id} needs [\\d.]+ MB, [\\d.]+ MB are free; nothing was downloaded`));
    return true;
  });
  assert.ok(!requests.some((r) => /tokenizer/.test(r)), requests.join());
  assert.deepEqual(fs.readdirSync(disk, { recursive: true, encoding: 'utf8' }).filter((f) => fs.statSync(path.join(disk, f)).isFile()), []);
  execFileSync('mount', ['-o', 'remount,size=1024k', disk]);
  await (await loadModel(id, { cacheDir: disk, threads: 1 })).dispose();
});

test("a hub model's chat_template.jinja is downloaded, cached and used when its tokenizer has no template", async () => {
  const id = await serve((d) => takeTemplateOut(d, true));
  const chat = [{ role: 'user' as const, content: 'hi there' }];
  const expected = (await tinyP).tokenizer.applyChatTemplate(chat);
  const m = await load(id);
  assert.equal(m.tokenizer.applyChatTemplate(chat), expected);
  await m.dispose();
  network = 'down';
  const again = await load(id);
  assert.equal(again.tokenizer.applyChatTemplate(chat), expected);
  await again.dispose();
});

test('a hub model with no chat template loads, online and offline, and its first prompt names the model and the files looked in', async () => {
  const id = await serve((d) => takeTemplateOut(d, false));
  for (const state of ['up', 'down'] as const) {
    network = state;
    const m = await load(id);
    assert.throws(() => m.tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }]), new RegExp(`${id} has no chat template \\(looked in tokenizer_config\\.json and chat_template\\.jinja\\)`));
    await m.dispose();
  }
});

/** Sizes of the files a fresh download fetches from the served folder. */
function servedBytes(folder: string, files: string[]): number {
  return files.reduce((n, f) => n + fs.statSync(path.join(folder, f)).size, 0);
}

test('download progress is over the bytes of all the files: it rises steadily and is full only when the weights are in', async () => {
  const id = await serve();
  const events: LoadProgress[] = [];
  const m = await load(id, { onProgress: (p) => events.push(p) });
  await m.dispose();
  const downloads = events.filter((p) => p.stage === 'download');
  const fractions = downloads.map((p) => p.fraction).filter((f): f is number => f !== undefined);
  assert.ok(fractions.length > 4, 'the weights report along the way');
  fractions.forEach((f, i) => assert.ok(i === 0 || f >= fractions[i - 1], `fraction ${f} after ${fractions[i - 1]}`));
  assert.equal(fractions.at(-1), 1);
  // Before the weights, the small files alone never fill the bar.
  const firstFull = downloads.findIndex((p) => p.fraction === 1);
  assert.ok(downloads.slice(0, firstFull).some((p) => p.file === 'onnx/model.onnx_data'), 'full only once the weights came');
  for (const p of downloads.filter((d) => /tokenizer|config/.test(d.file ?? ''))) assert.ok((p.fraction ?? 0) < 0.5, `${p.file}: ${p.fraction}`);
  const files = ['tokenizer.json', 'tokenizer_config.json', 'config.json', 'generation_config.json', 'onnx/model.onnx', 'onnx/model.onnx_data'];
  const total = servedBytes(repos.get(id)!, files);
  assert.deepEqual(new Set(downloads.map((p) => p.file)), new Set(files));
  assert.match(downloads.at(-1)!.message, new RegExp(`^Downloading ${id}: .* \\(${(total / 1e6).toFixed(1)} MB of ${(total / 1e6).toFixed(1)} MB\\)$`));
});

test('files served from the cache are not reported as downloads', async () => {
  const id = await serve();
  await (await load(id)).dispose();
  const events: LoadProgress[] = [];
  await (await load(id, { onProgress: (p) => events.push(p) })).dispose();
  assert.deepEqual(events.filter((p) => p.stage === 'download'), [], 'all cached');
  fs.rmSync(path.join(cacheDir, 'hub', id, 'onnx', 'model.onnx_data'));
  events.length = 0;
  await (await load(id, { onProgress: (p) => events.push(p) })).dispose();
  const downloads = events.filter((p) => p.stage === 'download');
  assert.ok(downloads.length > 0);
  assert.deepEqual(new Set(downloads.map((p) => p.file)), new Set(['onnx/model.onnx_data']));
  // The fraction is over that file alone: its first chunk is a quarter of it.
  assert.ok(downloads[0].fraction !== undefined && downloads[0].fraction <= 0.3, `first fraction ${downloads[0].fraction}`);
  assert.equal(downloads.at(-1)!.fraction, 1);
});

test("a hub model whose config.json disagrees with its graph is refused naming the cached config.json and both values", async () => {
  const id = await serve((d) => editJsonFile(path.join(d, 'config.json'), (c) => (c.vocab_size = 300)));
  await assert.rejects(load(id), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'MODEL_LOAD_FAILED', e.message);
    const file = path.join(cacheDir, 'hub', id, 'config.json');
    assert.ok(fs.existsSync(file), `${file} is where the cache keeps it`);
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    assert.match(e.message, /vocab_size is 300 but onnx\/model\.onnx has 288 as the logits' last dimension/);
    return true;
  });
});

/**
 * Runs `body`, then fails if any promise was rejected unhandled meanwhile (Node would report it
 * after loadModel had rejected, and the CLI crash on it).
 */
async function noUnhandledRejection(body: () => Promise<void>): Promise<void> {
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await body();
    // A rejection is reported unhandled on a later turn of the event loop.
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled.map((e) => (e as Error).stack), [], 'unhandled rejections');
}

/** Moves the served repo's fp32 graph aside, leaving quantized ones (as onnx-community repos often do). */
function onlyQuantizedGraphs(folder: string): void {
  const onnx = path.join(folder, 'onnx');
  for (const f of ['model_q4.onnx', 'model_quantized.onnx', 'model_fp16.onnx']) fs.copyFileSync(path.join(onnx, 'model.onnx'), path.join(onnx, f));
  fs.rmSync(path.join(onnx, 'model.onnx'));
  fs.rmSync(path.join(onnx, 'model.onnx_data'));
}

test('a hub repository with only quantized graphs is refused naming the repo, what kvsteer needs and the graphs it has', async () => {
  const id = await serve(onlyQuantizedGraphs);
  await noUnhandledRejection(async () => {
    await assert.rejects(load(id), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MODEL_LOAD_FAILED', e.message);
      assert.equal(
        e.message,
        `${id} on huggingface.co has no onnx/model.onnx: kvsteer needs that fp32 graph, with past_key_values inputs, and loads no quantized or fp16 one; the repository has onnx/model_fp16.onnx, onnx/model_quantized.onnx, onnx/model_q4.onnx`,
      );
      return true;
    });
  });
  assert.ok(!requests.some((r) => /tokenizer/.test(r)), `nothing downloaded: ${requests.join()}`);
});

test('a hub repository with no graph at all says so', async () => {
  const id = await serve((d) => fs.rmSync(path.join(d, 'onnx'), { recursive: true }));
  await noUnhandledRejection(async () => {
    await assert.rejects(load(id), (e: Error) => {
      assert.match(e.message, new RegExp(`^${id} on huggingface\\.co has no onnx/model\\.onnx: .*; the repository has no other graph in onnx/ either$`));
      return true;
    });
  });
});

test('a hub model whose download stopped after the tokenizer, with the network down, names the cause and leaves no rejection unhandled', async () => {
  const id = await serve();
  const cached = path.join(cacheDir, 'hub', id);
  fs.mkdirSync(cached, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(repos.get(id)!, f), path.join(cached, f));
  network = 'down';
  await noUnhandledRejection(async () => {
    await assert.rejects(load(id), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'MODEL_LOAD_FAILED', e.message);
      assert.match(e.message, new RegExp(`^cannot download ${id} from huggingface\\.co \\(getaddrinfo ENOTFOUND huggingface\\.co\\); offline\\?`));
      return true;
    });
  });
});

/** Files a broken download may have left in the cache (transformers.js's and kvsteer's partial files). */
function partialFiles(id: string): string[] {
  const root = path.join(cacheDir, 'hub', id);
  return fs.existsSync(root) ? (fs.readdirSync(root, { recursive: true }) as string[]).filter((f) => /\.(tmp|part)/.test(f)) : [];
}

// The graph, its external data (downloaded side by side with generation_config.json), the tokenizer.
for (const file of ['onnx/model.onnx', 'onnx/model.onnx_data', 'tokenizer.json']) {
  test(`a download of ${file} that breaks off midway is one error naming the file, the model and the cause, leaves no rejection unhandled, and a retry loads`, async () => {
    const id = await serve();
    breakOn = file;
    await noUnhandledRejection(async () => {
      await assert.rejects(load(id), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'MODEL_LOAD_FAILED', e.message);
        assert.equal(e.message, `cannot download ${file} of ${id} from huggingface.co (other side closed); offline? A model already downloaded loads from ${path.join(cacheDir, 'hub')}`);
        return true;
      });
    });
    assert.deepEqual(partialFiles(id), []);
    breakOn = undefined;
    const m = await load(id);
    assert.equal(m.config.vocabSize, 288);
    await m.dispose();
  });

  test(`a hub answering 500 for ${file} is one error naming the model and the file, and leaves no rejection unhandled`, async () => {
    const id = await serve();
    serverErrorOn = file;
    await noUnhandledRejection(async () => {
      await assert.rejects(load(id), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'MODEL_LOAD_FAILED', e.message);
        assert.ok(e.message.startsWith(`cannot load model ${id}: `), e.message);
        assert.ok(e.message.includes(`/${id}/resolve/main/${file}`), e.message);
        return true;
      });
    });
    serverErrorOn = undefined;
    await (await load(id)).dispose();
  });
}
