/**
 * The typed message protocol between the extension and the side-by-side webview. VS Code-free
 * (the webview script mirrors these shapes); incoming messages are validated, never trusted.
 */

import type { AskSideResult } from '../engine/ask';

export type Side = 'baseline' | 'steered';

export interface SideStats {
  tokens: number;
  /** null when no decoding step ran (a one-token answer): shown as a dash, not as 0. */
  msPerToken: number | null;
  totalMs: number;
  stopReason: string;
}

/** A finished side's statistics for the view. */
export function sideStats(r: AskSideResult): SideStats {
  return { tokens: r.tokens.length, msPerToken: Number.isFinite(r.msPerToken) ? r.msPerToken : null, totalMs: r.totalMs, stopReason: r.stopReason };
}

export type ToWebview =
  | { type: 'start'; question: string; model: string; vector: string; cV: number; cK: number; sides: Side[]; repeatPenalty?: { penalty: number; lastN: number }; insertInto?: string }
  /** The steered side gives its strength, and `vectorNote` when the vector was extracted on another model. */
  | { type: 'sideStart'; side: Side; cV?: number; cK?: number; vectorNote?: string }
  | { type: 'token'; side: Side; text: string }
  | { type: 'sideDone'; side: Side; stats: SideStats }
  | { type: 'error'; side?: Side; message: string }
  | { type: 'status'; text: string }
  /** The run is over. A side still running or waiting then stopped (cancelled before it answered). */
  | { type: 'end'; cancelled: boolean };

export type FromWebview =
  | { type: 'ready' }
  | { type: 'rerunSteered'; cV: number }
  | { type: 'copy'; side: Side }
  | { type: 'insert'; side: Side }
  | { type: 'cancel' };

const isSide = (x: unknown): x is Side => x === 'baseline' || x === 'steered';

/** Returns the message if it is a well-formed FromWebview, else undefined. */
export function parseFromWebview(msg: unknown): FromWebview | undefined {
  if (typeof msg !== 'object' || msg === null) return undefined;
  const m = msg as Record<string, unknown>;
  switch (m.type) {
    case 'ready':
    case 'cancel':
      return { type: m.type };
    case 'rerunSteered':
      return typeof m.cV === 'number' && Number.isFinite(m.cV) && Math.abs(m.cV) <= 100 ? { type: 'rerunSteered', cV: m.cV } : undefined;
    case 'copy':
    case 'insert':
      return isSide(m.side) ? { type: m.type, side: m.side } : undefined;
    default:
      return undefined;
  }
}
