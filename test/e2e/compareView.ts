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
}

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
  };
}

export function assertAnswered(s: SideStats, side: string): void {
  assert.ok(s.text.length > 0, `${side} answer is empty`);
  assert.ok(s.tokens > 0, `${side} tokens: ${s.tokens}`);
  assert.ok(s.msPerToken > 0, `${side} ms/token: ${s.msPerToken}`);
  assert.ok(s.totalMs > 0, `${side} total: ${s.totalMs}`);
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
