/**
 * Reads kvsteer's side-by-side view in the workbench: waits for both answers to a question and
 * reads each column's text and statistics.
 */
import assert from 'node:assert/strict';
import type { Frame, Page } from 'playwright-core';
import { answerInputBox, findWebviewFrame, runCommand } from './workbench';

/** How long two answers (model load included) may take on this 2-core machine. */
export const ANSWER_TIMEOUT_MS = 240_000;

export interface SideStats {
  text: string;
  tokens: number;
  msPerToken: number;
  totalMs: number;
  /** Why it ended: the engine's term (eos, max-tokens, …), the word shown and its tooltip. */
  stop: { reason: string; word: string; title: string };
}

const STOP_REASONS = ['eos', 'max-tokens', 'stop-string', 'context-full', 'cancelled', 'repetition'];

/** Waits until both columns are done (or one failed) and returns the panel's frame. */
export async function waitForAnswers(page: Page, question: string): Promise<Frame> {
  const frame = await findWebviewFrame(
    page,
    async (f) => (await f.locator('[data-testid="question"]').count()) > 0 && (await f.locator('[data-testid="question"]').textContent())?.trim() === question,
    { timeoutMs: 60_000 },
  );
  const deadline = Date.now() + ANSWER_TIMEOUT_MS;
  for (;;) {
    const states = await frame.locator('[data-state]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-testid')}=${e.getAttribute('data-state')}`));
    if (states.some((s) => s.endsWith('=error'))) {
      const err = await frame.locator('[data-testid^="error"]').allTextContents();
      throw new Error(`the webview shows an error: ${err.join(' | ')}`);
    }
    if (states.filter((s) => s.endsWith('=done')).length >= 2) return frame;
    if (Date.now() > deadline) throw new Error(`answers not done after ${ANSWER_TIMEOUT_MS} ms: ${states.join(', ')}`);
    await page.waitForTimeout(500);
  }
}

export async function sideStats(frame: Frame, side: 'baseline' | 'steered'): Promise<SideStats> {
  const stat = async (name: string) => Number((await frame.locator(`[data-testid="stats-${side}"] [data-stat="${name}"]`).textContent())?.replace(/,/g, ''));
  return {
    text: ((await frame.locator(`[data-testid="answer-${side}"]`).textContent()) ?? '').trim(),
    tokens: await stat('tokens'),
    msPerToken: await stat('msPerToken'),
    totalMs: await stat('totalMs'),
    stop: await frame.locator(`[data-testid="stats-${side}"] [data-stat="stopReason"]`).evaluate((el) => ({
      reason: el.getAttribute('data-reason') ?? '',
      word: el.textContent ?? '',
      title: el.getAttribute('title') ?? '',
    })),
  };
}

export function assertAnswered(s: SideStats, side: string): void {
  assert.ok(s.text.length > 0, `${side} answer is empty`);
  assert.ok(s.tokens > 0, `${side} tokens: ${s.tokens}`);
  assert.ok(s.msPerToken > 0, `${side} ms/token: ${s.msPerToken}`);
  assert.ok(s.totalMs > 0, `${side} total: ${s.totalMs}`);
  // The stop reason reads as a word with a sentence behind it, not as the engine's term.
  assert.ok(STOP_REASONS.includes(s.stop.reason), `${side} stop reason: ${JSON.stringify(s.stop)}`);
  assert.ok(s.stop.word && s.stop.word !== s.stop.reason && s.stop.title.length > 10, `${side} stop shown as: ${JSON.stringify(s.stop)}`);
}

/** The `data-testid` of the element that has keyboard focus in the view (null: the page's body). */
export async function focusedTestId(frame: Frame): Promise<string | null> {
  type Doc = { activeElement: { getAttribute(name: string): string | null } | null };
  return frame.evaluate(() => (globalThis as unknown as { document: Doc }).document.activeElement?.getAttribute('data-testid') ?? null);
}

/** The text of one of the view's header fields (`meta-model`, `meta-vector`, `meta-cv`, …). */
export async function metaField(frame: Frame, name: string): Promise<string> {
  return ((await frame.locator(`[data-testid="meta-${name}"]`).textContent()) ?? '').trim();
}

/**
 * Runs "Ask with reasoning steering" with a typed question and returns the panel's frame and both
 * answers, each checked to be non-empty with its statistics filled in.
 */
export async function askTypedQuestion(page: Page, question: string): Promise<{ frame: Frame; baseline: SideStats; steered: SideStats }> {
  await runCommand(page, 'KV Steer: Ask with reasoning steering');
  await answerInputBox(page, question);
  const frame = await waitForAnswers(page, question);
  const baseline = await sideStats(frame, 'baseline');
  const steered = await sideStats(frame, 'steered');
  assertAnswered(baseline, 'baseline');
  assertAnswered(steered, 'steered');
  return { frame, baseline, steered };
}

/** Waits until the view shows a re-run of the steered side at strength `cV` as done. */
export async function waitForRerun(frame: Frame, cV: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await frame.locator('[data-testid="column-steered"]').getAttribute('data-state');
    if ((await metaField(frame, 'cv')) === cV && state === 'done') return;
    if (Date.now() > deadline) throw new Error(`the steered column is ${state} at c_v ${await metaField(frame, 'cv')}, not done at ${cV}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
