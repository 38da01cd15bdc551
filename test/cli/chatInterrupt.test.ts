/**
 * `kvsteer chat` and Ctrl-C, on the real SmolLM2 model (the tiny random one answers too fast to be
 * interrupted): SIGINT during an answer stops that answer and the chat goes on, as in llama.cpp's
 * and Ollama's chats; SIGINT at the prompt still ends the chat.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from '../support/paths';
import { realModelSkip } from '../support/models';

const cli = path.join(repoRoot, 'out', 'src', 'cli', 'main.js');

function startChat(...extra: string[]) {
  const child = spawn(process.execPath, [cli, 'chat', '--baseline', '--threads', '2', ...extra], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr += d));
  // Writing to a chat that has already ended must not fail the test run itself.
  child.stdin.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  let ended = false;
  void exited.then(() => (ended = true));
  /** Resolves once `ok()` holds or the chat has ended (checked every 20 ms, for at most 60 s). */
  const until = async (ok: () => boolean) => {
    for (let t = 0; t < 3000 && !ok() && !ended; t++) await new Promise((r) => setTimeout(r, 20));
  };
  return { child, out, exited, until };
}

test('Ctrl-C during a kvsteer chat answer stops that answer, and the next question is answered', { skip: realModelSkip, timeout: 120_000 }, async () => {
  const { child, out, exited, until } = startChat('--max-new-tokens', '200');
  child.stdin.write('Tell me a long story about a dragon.\n');
  await until(() => out.stdout.length > 20);
  child.kill('SIGINT');
  await until(() => /stop: cancelled/.test(out.stderr));
  child.stdin.end('What is the capital of France?\n');
  const { code, signal } = await exited;
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, out.stderr);
  const stats = out.stderr.match(/\[(\d+) tokens, [^\]]*stop: ([\w-]+)\]/g) ?? [];
  assert.equal(stats.length, 2, out.stderr);
  assert.match(stats[0], /stop: cancelled/);
  assert.ok(Number(/\[(\d+) tokens/.exec(stats[0])![1]) < 200, stats[0]);
  assert.doesNotMatch(stats[1], /stop: cancelled/);
});

test('Ctrl-C at the chat prompt, with no answer running, still ends the chat', { skip: realModelSkip, timeout: 120_000 }, async () => {
  const { child, out, exited, until } = startChat('--max-new-tokens', '4');
  child.stdin.write('Hi.\n');
  await until(() => /\[\d+ tokens/.test(out.stderr));
  // The statistics are written just before the answer ends: let the chat get back to its prompt.
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGINT');
  const { code, signal } = await exited;
  assert.ok(signal === 'SIGINT' || code === 130, `exit ${code}, signal ${signal}: ${out.stderr}`);
});
