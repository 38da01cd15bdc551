/**
 * The kvsteer command line as users run it: `ask --json` (plain and `--compare`) prints one JSON
 * object with texts, generated token ids and timings; `ask --file` attaches files; a vector made on
 * another model is named on stderr; bad input exits non-zero with one clear line.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from '../support/paths';
import { loadTinyModel, realModelSkip, tinyGgufPath } from '../support/models';
import { fakeVector } from '../support/fakeVector';
import { saveVector } from '../../src/engine/steering/vectorFile';
import { readGenerations } from '../../src/engine/eval/runEval';
import { fmtEta } from '../../src/cli/evalCommand';

const cli = path.join(repoRoot, 'out', 'src', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('kvsteer ask --compare --json prints baseline and steered with token ids, ms/token and the strength', { skip: realModelSkip }, () => {
  const r = run('ask', 'Why do ice cubes float on water?', '--compare', '--json', '--max-new-tokens', '24', '--threads', '2');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  for (const side of ['baseline', 'steered']) {
    assert.equal(typeof out[side].text, 'string');
    assert.ok(out[side].text.length > 0);
    assert.ok(Array.isArray(out[side].tokens) && out[side].tokens.length > 0 && out[side].tokens.every(Number.isInteger));
    assert.ok(out[side].msPerToken > 0);
  }
  assert.equal(out.steered.vector, 'smollm2-135m-reasoning');
  assert.equal(out.steered.cV, 4);
  assert.equal(out.steered.cK, 0);
  // The steered side edits a copy of the baseline's prefill (the same prompt tokens).
  assert.equal(out.baseline.prefillReused, false);
  assert.equal(out.steered.prefillReused, true);
  assert.ok(out.load.loadMs > 0);
});

test('kvsteer ask --json without --compare gives the plain answer and its timings', { skip: realModelSkip }, () => {
  const r = run('ask', 'What is the capital of France?', '--json', '--max-new-tokens', '16', '--threads', '2');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.match(out.baseline.text, /Paris/);
  assert.equal(out.steered, undefined);
  assert.ok(out.baseline.prefillMs > 0 && out.baseline.totalMs > 0);
});

test('bad input exits non-zero with one line naming the problem', () => {
  const missing = run('ask', 'hi', '--model', '/nope/model.gguf');
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr.trim(), 'kvsteer: /nope/model.gguf: no such file');
  const badCv = run('ask', 'hi', '--compare', '--cv', 'NaN');
  assert.equal(badCv.status, 2);
  assert.match(badCv.stderr, /--cv must be a finite number in \[-100, 100\] \(got "NaN"\)/);
  const unknown = run('frobnicate');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
});

test('a steering flag alone asks for the steered answer and a sampling flag alone for sampling (neither is ignored)', { skip: realModelSkip }, () => {
  const steered = run('ask', 'What is 2 + 2?', '--cv', '2', '--json', '--max-new-tokens', '4', '--threads', '2');
  assert.equal(steered.status, 0, steered.stderr);
  const s = JSON.parse(steered.stdout);
  assert.equal(s.baseline, undefined);
  assert.equal(s.steered.cV, 2);
  assert.equal(s.steered.vector, 'smollm2-135m-reasoning');
  const sampled = run('ask', 'What is 2 + 2?', '--seed', '3', '--json', '--max-new-tokens', '4', '--threads', '2');
  assert.equal(sampled.status, 0, sampled.stderr);
  assert.deepEqual(JSON.parse(sampled.stdout).decoding, { kind: 'sample', temperature: 0.6, topP: 0.9, topK: 50, seed: 3 });
});

test('bad flags are refused before the model loads: one line, exit 2, nothing written', () => {
  const oneLine = (r: ReturnType<typeof run>, message: string) => {
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim(), `kvsteer: ${message}`); // no model-loading progress before it
  };
  oneLine(run('ask', 'hi', '--cv', 'abc'), '--cv must be a finite number in [-100, 100] (got "abc")');
  oneLine(run('ask', 'hi', '--cv', '0x10'), '--cv must be a finite number in [-100, 100] (got "0x10")');
  oneLine(run('ask', 'hi', '--temperature', '9'), '--temperature must be a finite number in [0, 5] (got "9")');
  oneLine(run('ask', 'hi', '--repeat-penalty', '0.8'), '--repeat-penalty must be a finite number in [1, 2] (got "0.8")');
  oneLine(run('ask', 'hi', '--repeat-last-n', '64'), '--repeat-last-n needs --repeat-penalty');
  oneLine(run('ask', 'What', 'is', '2+2?'), 'ask takes one question in quotes: kvsteer ask "What is 2+2?"');
  oneLine(run('ask', 'hi', '--out', 'answer.txt'), '--out is a flag of kvsteer extract; ask does not take it');
  oneLine(run('models', 'qwen'), 'models takes no words besides its flags (got "qwen")');
  inTempDir('kvsteer-cli-', (dir) => {
    const out = path.join(dir, 'v.safetensors');
    oneLine(run('extract', '--pairs', path.join(repoRoot, 'vectors', 'datasets', 'reasoning-v1.jsonl'), '--out', out, '--demos', '0'), '--demos must be an integer in [1, ∞] (got "0")');
    oneLine(run('extract', '--pairs', path.join(repoRoot, 'vectors', 'datasets', 'reasoning-v1.jsonl'), '--out', out, '--system', 'Be brief.'), 'extract does not take --system (see kvsteer --help)');
    oneLine(run('extract', '--pairs', path.join(repoRoot, 'vectors', 'datasets', 'reasoning-v1.jsonl'), '--out', out, '--id', ' '), '--id is empty (give the id to list the vector under, or leave --id out)');
    oneLine(run('fetch-model', '--json'), 'fetch-model does not take --json (see kvsteer --help)');
    const data = path.join(dir, 'arc.jsonl');
    fs.writeFileSync(data, JSON.stringify({ id: 'q1', question: 'Which is a metal?\n\nChoices:\nA: wood\nB: iron', answer: 'B' }) + '\n');
    const evalOut = path.join(dir, 'eval');
    oneLine(run('eval', '--task', 'arc-challenge', '--data', data, '--out', evalOut, '--cv', 'Infinity'), '--cv must be a finite number in [-100, 100] (got "Infinity")');
    oneLine(run('eval', '--task', 'arc-challenge', '--data', data, '--out', evalOut, '--repeat-penalty', '1.1', '--repeat-last-n', '0'), '--repeat-last-n must be an integer in [1, 32768] (got "0")');
    oneLine(run('eval', '--task', 'arc-challenge', '--data', data, '--out', evalOut, '--sweep', 'c_v=4,'), '--sweep values must be finite numbers in [-100, 100] (got "4", "")');
    oneLine(run('eval', '--task', 'arc-challenge', '--data', data, '--out', evalOut, '--sweep', 'c_v=0x4'), '--sweep values must be finite numbers in [-100, 100] (got "0x4")');
    oneLine(run('eval', '--task', 'arc-challenge', '--data', data, '--out', evalOut, '--methods', 'baseline,baseline'), '--methods names baseline twice');
    oneLine(run('eval', '--task', 'arc-challenge', '--data', data, '--out', evalOut, '--sweep', 'c_v=4,2,4.0'), '--sweep names c_v=4 twice');
    oneLine(run('eval', '--task', 'arc-challenge', '--data', data, '--out', evalOut, '--methods', 'baseline,cot-prompt', '--sweep', 'c_v=1,2'), '--sweep needs cache-steering in --methods');
    oneLine(run('eval', '--task', 'arc-challenge', '--data', data, '--out', evalOut, '--methods', 'baseline,cache-steering', '--caa-coeff', '5'), '--caa-coeff needs activation-steering in --methods');
    oneLine(run('eval', '--task', 'arc-challenge', '--data', data, '--out', evalOut, '--temperature', '1.5'), '--temperature needs --decoding sampling');
    oneLine(run('eval', '--task', 'arc-challenge', '--data', data, '--out', data), `--out ${data} is a file; it must be a folder (new or one this command made)`);
    oneLine(run('eval', '--task', 'constructor', '--data', data, '--out', evalOut), 'unknown task "constructor" (tasks: gsm8k, arc-challenge, commonsense-qa, piqa)');
    assert.deepEqual(fs.readdirSync(dir), ['arc.jsonl']);
  });
});

test('kvsteer eval checks its --out folder before the model loads: unreadable answers or answers made with other settings are refused without a load (before: after it)', () => {
  inTempDir('kvsteer-cli-', (dir) => {
    const question = 'Which is a metal?\n\nChoices:\nA: wood\nB: iron';
    const data = path.join(dir, 'arc.jsonl');
    fs.writeFileSync(data, JSON.stringify({ id: 'q1', question, answer: 'B' }) + '\n');
    // A model that does not exist: its error would come first if the model were opened first.
    const missing = path.join(dir, 'no-such-model.gguf');
    const evalIn = (out: string, ...extra: string[]) => run('eval', '--task', 'arc-challenge', '--data', data, '--out', out, '--methods', 'baseline', '--model', missing, ...extra);
    const row = { task: 'arc-challenge', method: 'baseline', variant: '', seed: null, id: 'q1', input: `<|im_start|>user\n${question}<|im_end|>\n`, target: 'B', response: 'B', filtered_response: { augmented_extract: 'B' }, model: 'SmolLM2', max_new_tokens: 4 };
    const other = path.join(dir, 'other-settings');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'generations.jsonl'), JSON.stringify(row) + '\n');
    const r = evalIn(other, '--max-new-tokens', '8');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /generations\.jsonl holds baseline results made with max_new_tokens = 4; this run asks for 8/);
    assert.doesNotMatch(r.stderr, /no-such-model/);
    const damaged = path.join(dir, 'damaged');
    fs.mkdirSync(damaged);
    fs.writeFileSync(path.join(damaged, 'generations.jsonl'), '{"task": \n' + JSON.stringify(row) + '\n');
    const d = evalIn(damaged, '--max-new-tokens', '4');
    assert.match(d.stderr, /generations\.jsonl:1: not JSON; nothing was changed/);
    assert.doesNotMatch(d.stderr, /no-such-model/);
    const unreadable = path.join(dir, 'unreadable');
    fs.mkdirSync(path.join(unreadable, 'generations.jsonl'), { recursive: true });
    const u = evalIn(unreadable);
    assert.match(u.stderr, /generations\.jsonl: cannot read the finished answers \(it is a folder\)/);
    assert.doesNotMatch(u.stderr, /no-such-model/);
    // The same settings get as far as the model.
    assert.match(evalIn(other, '--max-new-tokens', '4').stderr, /no-such-model/);
  });
});

/** Runs `fn` in a fresh temporary folder, removed afterwards (once its promise settles, for an async `fn`). */
function inTempDir<T>(prefix: string, fn: (dir: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  let result: T;
  try {
    result = fn(dir);
  } catch (e) {
    remove();
    throw e;
  }
  if (result instanceof Promise) return result.finally(remove) as T;
  remove();
  return result;
}

/** Saves the tiny model's fake vector as `file`, for the CLI to steer the tiny model with; returns `file`. */
async function tinyVectorFile(file: string): Promise<string> {
  const m = await loadTinyModel();
  try {
    saveVector(file, fakeVector(m));
  } finally {
    await m.dispose();
  }
  return file;
}

test('extract --id into a folder whose manifest is corrupt fails naming the manifest before the model loads, and writes nothing', () => {
  inTempDir('kvsteer-cli-manifest-', (dir) => {
    const manifest = path.join(dir, 'manifest.json');
    fs.writeFileSync(manifest, '{"version":1,"vectors":[{"id":"x"}]}');
    const r = run('extract', '--pairs', path.join(repoRoot, 'vectors', 'datasets', 'reasoning-v1.jsonl'), '--out', path.join(dir, 'v.safetensors'), '--id', 'mine');
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim(), `kvsteer: ${manifest}: vectors[0] has no "file" (a non-empty string)`); // no model-loading progress before it
    assert.deepEqual(fs.readdirSync(dir), ['manifest.json']);
  });
});

test('a streamed answer whose reader closes the pipe (kvsteer ask … | head) stops quietly, without an EPIPE stack trace', async () => {
  const { spawn } = await import('node:child_process');
  await inTempDir('kvsteer-cli-epipe-', async (dir) => {
    const child = spawn(process.execPath, [cli, 'ask', 'the sea', '--model', tinyGgufPath(), '--threads', '1', '--max-new-tokens', '200'], {
      env: { ...process.env, KVSTEER_CACHE_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Like `head -c 1`: read the first bytes of the answer, then close the pipe.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE|at .*\.js:\d+/);
  });
});

test('extract with too few examples for its demonstrations fails naming the file before the model loads, and writes nothing', () => {
  inTempDir('kvsteer-cli-few-', (dir) => {
    const pairs = path.join(dir, 'few.jsonl');
    fs.writeFileSync(pairs, Array.from({ length: 3 }, (_, i) => JSON.stringify({ question: `q${i}`, steps: 's', answer: 'a' })).join('\n'));
    // A model that does not exist: the count must be checked before any load is tried.
    const r = run('extract', '--pairs', pairs, '--out', path.join(dir, 'v.safetensors'), '--demos', '6', '--model', path.join(dir, 'absent.gguf'));
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr.trim(), `kvsteer: ${pairs}: need at least 7 items for 6 demonstrations per prompt (got 3)`);
    assert.deepEqual(fs.readdirSync(dir), ['few.jsonl']);
  });
});

test('extract --id leaves no unlisted vector file behind when the manifest cannot take the entry', () => {
  inTempDir('kvsteer-cli-unlisted-', (dir) => {
    const pairs = path.join(dir, 'items.jsonl');
    fs.writeFileSync(pairs, Array.from({ length: 4 }, (_, i) => JSON.stringify({ question: `What is ${i} + 1?`, steps: `${i} plus one.`, answer: `${i + 1}` })).join('\n'));
    // The manifest reads fine before the extraction, but its lock is a folder by then: the entry cannot be written.
    fs.writeFileSync(path.join(dir, 'manifest.json'), '{"version":1,"vectors":[]}');
    fs.mkdirSync(path.join(dir, '.manifest.json.lock'));
    const r = spawnSync(process.execPath, [cli, 'extract', '--pairs', pairs, '--out', path.join(dir, 'v.safetensors'), '--id', 'mine', '--demos', '2', '--model', tinyGgufPath(), '--threads', '1'], {
      encoding: 'utf8',
      env: { ...process.env, KVSTEER_CACHE_DIR: path.join(dir, 'cache') },
      timeout: 120_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /manifest\.json\.lock/);
    assert.ok(!fs.existsSync(path.join(dir, 'v.safetensors')), 'the vector file was left behind, listed nowhere');
  });
});

test('a model without a shipped vector: a steered answer names the command that makes one, a comparison still gives its baseline', () => {
  inTempDir('kvsteer-cli-novec-', (dir) => {
    const env = { ...process.env, KVSTEER_CACHE_DIR: dir };
    const ask = (...args: string[]) => spawnSync(process.execPath, [cli, 'ask', 'the sea', '--model', tinyGgufPath(), '--threads', '1', '--max-new-tokens', '4', ...args], { encoding: 'utf8', env });
    const r = ask('--steer');
    assert.equal(r.status, 1, r.stderr);
    const m = /no shipped steering vector fits .*`kvsteer extract --model (\S+) --pairs (\S+) --demos 10 --out (\S+)`/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.equal(m[1], tinyGgufPath());
    assert.ok(fs.existsSync(path.resolve(m[2])), `${m[2]} does not exist`);
    // Shown to a person, the comparison has its baseline and says why the steered side is missing.
    const shown = ask('--compare');
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /BASELINE \(/);
    assert.match(shown.stdout, /STEERED \(no vector\)/);
    assert.match(shown.stdout.replace(/\s+│?\s*/g, ' '), /no shipped steering vector fits/);
    assert.match(shown.stdout, /tokens: \d+/);
    // A script asking for JSON gets the error, not half an object.
    assert.equal(ask('--compare', '--json').status, 1);
  });
});

test("an evaluation's ETA rounds to whole seconds before splitting minutes (never 1m60s)", () => {
  assert.deepEqual([119.6, 59.6, 42.2, 245, Infinity].map(fmtEta), ['2m00s', '1m00s', '42s', '4m05s', '?']);
});

test('kvsteer eval --help describes the --data rows, as the message for a skipped Hugging Face row says it does', () => {
  const r = run('eval', '--help');
  assert.equal(r.status, 0, r.stderr);
  // A row with `choices` / `answerKey` is skipped with a message that sends the user to eval --help.
  assert.match(r.stdout, /"question"/);
  assert.match(r.stdout, /"answer"/);
  assert.match(r.stdout, /A: …/);
  assert.match(r.stdout, /#### N/);
});

test('kvsteer eval --offset-token steers from the token given (escapes read), records it, and refuses one of several tokens', async () => {
  await inTempDir('kvsteer-cli-eval-', async (dir) => {
    const vector = await tinyVectorFile(path.join(dir, 'tiny.safetensors'));
    const data = path.join(dir, 'arc.jsonl');
    fs.writeFileSync(data, JSON.stringify({ id: 'q1', question: 'Which is a metal?\n\nChoices:\nA: wood\nB: iron', answer: 'B' }) + '\n');
    const env = { ...process.env, KVSTEER_CACHE_DIR: path.join(dir, 'cache') };
    const evalRun = (out: string, offset: string) =>
      spawnSync(process.execPath, [cli, 'eval', '--task', 'arc-challenge', '--data', data, '--model', tinyGgufPath(), '--vector', vector, '--methods', 'cache-steering', '--max-new-tokens', '3', '--threads', '1', '--offset-token', offset, '--out', out], { encoding: 'utf8', env });
    const ok = evalRun(path.join(dir, 'space'), '\\s');
    assert.equal(ok.status, 0, ok.stderr);
    const [row] = readGenerations(path.join(dir, 'space'));
    assert.equal(row.offset_token, ' ');
    assert.ok(row.response.startsWith(' '), JSON.stringify(row.response));
    const bad = evalRun(path.join(dir, 'bad'), 'two words');
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /the offset token "two words" is \d+ tokens for this model; it must be exactly one/);
    assert.equal(fs.existsSync(path.join(dir, 'bad', 'generations.jsonl')), false);
  });
});

test("kvsteer ask and eval apply a repeat penalty when asked, report it, use the vector's strength for it, and an evaluation folder refuses rows made without it", async () => {
  await inTempDir('kvsteer-cli-rp-', async (dir) => {
    const env = { ...process.env, KVSTEER_CACHE_DIR: path.join(dir, 'cache') };
    const cliRun = (...args: string[]) => spawnSync(process.execPath, [cli, ...args, '--model', tinyGgufPath(), '--threads', '1'], { encoding: 'utf8', env });
    const ask = (...extra: string[]) => cliRun('ask', 'the sea', '--json', '--max-new-tokens', '24', ...extra);
    const plain = ask(), penalised = ask('--repeat-penalty', '1.5', '--repeat-last-n', '16');
    assert.equal(plain.status, 0, plain.stderr);
    assert.equal(penalised.status, 0, penalised.stderr);
    assert.equal(JSON.parse(plain.stdout).repeatPenalty, undefined);
    assert.deepEqual(JSON.parse(penalised.stdout).repeatPenalty, { penalty: 1.5, lastN: 16 });
    assert.notDeepEqual(JSON.parse(penalised.stdout).baseline.tokens, JSON.parse(plain.stdout).baseline.tokens);
    // Shown to a person, the comparison says how its answers were decoded.
    // A vector's strength recorded for this penalty and window is used unless --cv is given.
    const m = await loadTinyModel();
    const v = fakeVector(m);
    await m.dispose();
    v.meta.recommended.withRepeatPenalty = [{ penalty: 1.5, lastN: 16, cK: 0, cV: 7 }];
    const vector = path.join(dir, 'rp.safetensors');
    saveVector(vector, v);
    const steeredCV = (...extra: string[]) => JSON.parse(ask('--vector', vector, '--max-new-tokens', '2', ...extra).stdout).steered.cV;
    assert.equal(steeredCV(), 4);
    assert.equal(steeredCV('--repeat-penalty', '1.5', '--repeat-last-n', '16'), 7);
    assert.equal(steeredCV('--repeat-penalty', '1.5'), 4);
    assert.equal(steeredCV('--repeat-penalty', '1.5', '--repeat-last-n', '16', '--cv', '2'), 2);
    const shown = cliRun('ask', 'the sea', '--compare', '--max-new-tokens', '4', '--repeat-penalty', '1.5', '--repeat-last-n', '16');
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /repeat penalty: 1\.5 · last 16/);
    assert.doesNotMatch(cliRun('ask', 'the sea', '--compare', '--max-new-tokens', '4').stdout, /repeat penalty/);
    const data = path.join(dir, 'arc.jsonl');
    fs.writeFileSync(data, JSON.stringify({ id: 'q1', question: 'Which is a metal?\n\nChoices:\nA: wood\nB: iron', answer: 'B' }) + '\n');
    const out = path.join(dir, 'eval');
    const evalRun = (...extra: string[]) => cliRun('eval', '--task', 'arc-challenge', '--data', data, '--methods', 'baseline', '--max-new-tokens', '3', '--out', out, ...extra);
    const first = evalRun('--repeat-penalty', '1.1');
    assert.equal(first.status, 0, first.stderr);
    assert.deepEqual(readGenerations(out)[0].repeat_penalty, { penalty: 1.1, lastN: 64 });
    const steeredEval = cliRun('eval', '--task', 'arc-challenge', '--data', data, '--methods', 'cache-steering', '--vector', vector, '--max-new-tokens', '2', '--out', path.join(dir, 'eval-rp'), '--repeat-penalty', '1.5', '--repeat-last-n', '16');
    assert.equal(steeredEval.status, 0, steeredEval.stderr);
    assert.equal(readGenerations(path.join(dir, 'eval-rp'))[0].c_v, 7);
    const mixed = evalRun();
    assert.notEqual(mixed.status, 0);
    assert.match(mixed.stderr, /made with repeat_penalty = \{"penalty":1.1,"lastN":64\}; this run asks for the default/);
    // Sampled rows added to the folder's greedy ones: each summary counts only its own decoding.
    const sampled = evalRun('--repeat-penalty', '1.1', '--decoding', 'sampling', '--seeds', '2');
    assert.equal(sampled.status, 0, sampled.stderr);
    const summary = () => JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).methods[0];
    assert.equal(summary().seeds, 2, 'the greedy row was averaged in as a third seed');
    assert.equal(evalRun('--repeat-penalty', '1.1').status, 0);
    assert.equal(summary().seeds, 1);
  });
});

test('kvsteer chat answers line by line, later turns see the earlier ones, /reset forgets them, and a failed turn does not end the chat', async () => {
  await inTempDir('kvsteer-cli-chat-', async (dir) => {
    const env = { ...process.env, KVSTEER_CACHE_DIR: path.join(dir, 'cache') };
    const vector = await tinyVectorFile(path.join(dir, 'tiny.safetensors'));
    const chat = (input: string, ...extra: string[]) =>
      spawnSync(process.execPath, [cli, 'chat', '--model', tinyGgufPath(), '--vector', vector, '--threads', '1', '--max-new-tokens', '6', ...extra], { encoding: 'utf8', env, input });
    const withHistory = chat('hello\nthe sea\n');
    const forgotten = chat('hello\n/reset\nthe sea\n');
    const alone = chat('the sea\n');
    for (const r of [withHistory, forgotten, alone]) assert.equal(r.status, 0, r.stderr);
    assert.match(alone.stderr, /Chatting with tiny, steered by fake \(c_v 4, c_k 0\)/);
    // Two replies, one line each after the reply; the first turn is the same in both runs.
    assert.ok(forgotten.stdout.endsWith(alone.stdout), 'after /reset the turn is answered as if alone');
    assert.equal(withHistory.stdout.slice(0, forgotten.stdout.length - alone.stdout.length), forgotten.stdout.slice(0, forgotten.stdout.length - alone.stdout.length));
    assert.ok(!withHistory.stdout.endsWith(alone.stdout), 'the earlier turn changes the reply');
    assert.match(forgotten.stderr, /\(conversation forgotten\)/);
    assert.equal((alone.stderr.match(/\[\d+ tokens, [\d.]+ ms\/token/g) ?? []).length, 1);
    // --compare: the baseline, then the steered reply, each with its statistics.
    const compared = chat('the sea\n', '--compare');
    assert.equal(compared.status, 0, compared.stderr);
    assert.match(compared.stdout, /^baseline: [^]*\nsteered: [^]*\n$/);
    assert.match(compared.stderr, /baseline \[\d+ tokens[^]*steered \[\d+ tokens/);
    // A turn over the context window (512 tokens) prints its error; the next one is answered.
    const long = chat(`${'word '.repeat(600)}\nthe sea\n/exit\nnever read\n`, '--baseline');
    assert.equal(long.status, 0, long.stderr);
    assert.match(long.stderr, /kvsteer: the prompt has \d+ tokens but the model's context window is 512 \(\/reset starts over\)/);
    assert.equal((long.stderr.match(/\[\d+ tokens/g) ?? []).length, 1);
    assert.doesNotMatch(long.stderr, /steered by/);
    // Flags that make no sense for a chat are refused before the model loads.
    for (const [flags, message] of [[['--compare', '--baseline'], '--compare and --baseline exclude each other'], [['--json'], '--json is for kvsteer ask'], [['--file', 'notes.txt'], '--file is for kvsteer ask']] as const) {
      const r = chat('hi\n', ...flags);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr.trim(), new RegExp(`^kvsteer: ${message}`));
      assert.doesNotMatch(r.stderr, /Loading/);
    }
  });
});

test('kvsteer ask --file puts the file before the question, says so, and refuses a missing file or a folder before loading', { skip: realModelSkip }, () => {
  inTempDir('kvsteer-cli-file-', (dir) => {
    const notes = path.join(dir, 'notes.txt');
    fs.writeFileSync(notes, 'The team meeting moved to Thursday at 3 pm, in room 12.\n');
    fs.writeFileSync(path.join(dir, 'blob.bin'), Buffer.from([1, 0, 2]));
    const r = run('ask', 'When is the meeting?', '--file', notes, '--file', path.join(dir, 'blob.bin'), '--json', '--max-new-tokens', '24', '--threads', '2');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.match(out.baseline.text, /Thursday/);
    assert.deepEqual(out.attached, { used: [{ name: notes }], leftOut: [{ name: path.join(dir, 'blob.bin'), why: 'not text' }] });
    const plain = run('ask', 'When is the meeting?', '--file', notes, '--max-new-tokens', '24', '--threads', '2');
    assert.equal(plain.status, 0, plain.stderr);
    assert.match(plain.stderr, new RegExp(`^Attached: ${notes.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    // The question alone does not say when.
    const alone = JSON.parse(run('ask', 'When is the meeting?', '--json', '--max-new-tokens', '24', '--threads', '2').stdout);
    assert.doesNotMatch(alone.baseline.text, /Thursday/);
    assert.equal(alone.attached, undefined);
    for (const [file, message] of [[path.join(dir, 'nope.txt'), 'no such file'], [dir, 'a folder, not a file']]) {
      const bad = run('ask', 'hi', '--file', file, '--model', '/nope/model.gguf');
      assert.notEqual(bad.status, 0);
      // Named before the (missing) model is even looked at.
      assert.equal(bad.stderr.trim(), `kvsteer: --file ${file}: ${message}`);
    }
  });
});

test('kvsteer ask --json reports the layers it steered and the offset token, the defaults and the flags alike', async () => {
  await inTempDir('kvsteer-cli-layers-', async (dir) => {
    const env = { ...process.env, KVSTEER_CACHE_DIR: path.join(dir, 'cache') };
    const vector = await tinyVectorFile(path.join(dir, 'fake.safetensors'));
    const steered = (...extra: string[]) => {
      const r = spawnSync(process.execPath, [cli, 'ask', 'the sea', '--vector', vector, '--json', '--max-new-tokens', '2', '--model', tinyGgufPath(), '--threads', '1', ...extra], { encoding: 'utf8', env });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout).steered;
    };
    const byDefault = steered();
    assert.deepEqual([byDefault.layers, byDefault.offsetToken], [[1], '\n'], "the vector's layers from 1 up and its offset token");
    const given = steered('--layers', '0-1', '--offset-token', '\\s');
    assert.deepEqual([given.layers, given.offsetToken], [[0, 1], ' ']);
    assert.notDeepEqual(given.tokens, undefined);
  });
});

test('kvsteer ask and chat say when the vector was extracted on another model (stderr, and steered.vectorNote with --json), and say nothing for one made on the loaded model', async () => {
  await inTempDir('kvsteer-cli-note-', async (dir) => {
    const env = { ...process.env, KVSTEER_CACHE_DIR: path.join(dir, 'cache') };
    const m = await loadTinyModel();
    const own = path.join(dir, 'own.safetensors');
    saveVector(own, fakeVector(m));
    const transferred = path.join(dir, 'transferred.safetensors');
    const v = fakeVector(m);
    v.meta.model = { ...v.meta.model, name: 'tiny-base', id: 'tiny-base' };
    saveVector(transferred, v);
    await m.dispose();
    const cliRun = (args: string[], input?: string) => spawnSync(process.execPath, [cli, ...args, '--model', tinyGgufPath(), '--threads', '1', '--max-new-tokens', '2'], { encoding: 'utf8', env, input });
    const note = /^Note: steering vector "fake" was extracted on tiny-base, not on the loaded tiny; .*directions may mean something else here$/m;
    const steered = cliRun(['ask', 'the sea', '--vector', transferred]);
    assert.equal(steered.status, 0, steered.stderr);
    assert.match(steered.stderr, note);
    const json = cliRun(['ask', 'the sea', '--vector', transferred, '--json']);
    assert.equal(json.status, 0, json.stderr);
    assert.match(JSON.parse(json.stdout).steered.vectorNote, /was extracted on tiny-base, not on the loaded tiny/);
    assert.doesNotMatch(json.stderr, /Note:/, '--json keeps stderr for errors');
    const chat = cliRun(['chat', '--vector', transferred], 'the sea\n');
    assert.equal(chat.status, 0, chat.stderr);
    assert.match(chat.stderr, note);
    const mine = cliRun(['ask', 'the sea', '--vector', own, '--json']);
    assert.equal(mine.status, 0, mine.stderr);
    assert.equal(JSON.parse(mine.stdout).steered.vectorNote, undefined);
    const mineText = cliRun(['ask', 'the sea', '--vector', own]);
    assert.doesNotMatch(mineText.stderr, /Note:/);
  });
});

test("kvsteer eval's summary leaves out an earlier run's sweep variants made with another vector, layers, offset token or force-choice setting", async () => {
  await inTempDir('kvsteer-cli-eval-mix-', async (dir) => {
    const m = await loadTinyModel();
    const [a, b] = [path.join(dir, 'a.safetensors'), path.join(dir, 'b.safetensors')];
    saveVector(a, { ...fakeVector(m), meta: { ...fakeVector(m).meta, name: 'vector-a' } });
    saveVector(b, { ...fakeVector(m, 3), meta: { ...fakeVector(m, 3).meta, name: 'vector-b' } });
    await m.dispose();
    const data = path.join(dir, 'arc.jsonl');
    fs.writeFileSync(data, JSON.stringify({ id: 'q1', question: 'Which is a metal?\n\nChoices:\nA: wood\nB: iron', answer: 'B' }) + '\n');
    const env = { ...process.env, KVSTEER_CACHE_DIR: path.join(dir, 'cache') };
    const out = path.join(dir, 'eval');
    const evalRun = (...extra: string[]) =>
      spawnSync(process.execPath, [cli, 'eval', '--task', 'arc-challenge', '--data', data, '--model', tinyGgufPath(), '--methods', 'cache-steering', '--max-new-tokens', '2', '--threads', '1', '--out', out, ...extra], { encoding: 'utf8', env });
    const variants = () => JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).methods.map((s: { variant: string }) => s.variant);
    const first = evalRun('--vector', a, '--sweep', 'c_v=1');
    assert.equal(first.status, 0, first.stderr);
    // The same settings at another strength: one sweep, both variants shown.
    assert.equal(evalRun('--vector', a, '--sweep', 'c_v=2').status, 0);
    assert.deepEqual(variants(), ['c_v=1', 'c_v=2']);
    for (const [extra, variant] of [[['--vector', b], 'c_v=3'], [['--vector', a, '--layers', '1'], 'c_v=4'], [['--vector', a, '--offset-token', '\\s'], 'c_v=5'], [['--vector', a, '--no-force-choice'], 'c_v=6']] as const) {
      const r = evalRun(...extra, '--sweep', variant);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(variants(), [variant], `${extra.join(' ')}: the summary mixed in variants made otherwise`);
    }
  });
});
