/**
 * Drives the side-by-side webview for one question: runs the baseline and the steered answer
 * through the service, streams tokens into the panel, re-runs only the steered side when the
 * strength slider changes, copies a side's text or inserts it into the editor the question came
 * from, and cancels on request. Model text goes to the webview as data (rendered there with
 * textContent), never as HTML.
 */
import * as vscode from 'vscode';
import type { AskMode } from '../engine/ask';
import { KvsteerSettings } from '../config/settingsSchema';
import { readSettingsAfterWrites } from '../config/settings';
import { ServiceHost } from '../service/serviceHost';
import { ComparePanel } from '../webview/comparePanel';
import { FromWebview, Side, sideStats } from '../webview/protocol';
import { formatMsPerToken } from '../engine/generation/formatMsPerToken';
import { insertionText, placeAfterEdit } from './answerInsertion';
import { isCancellation } from '../engine/util/errors';

/** The editor a question came from: where "Insert" puts an answer. */
export interface InsertTarget {
  uri: vscode.Uri;
  /** The end of the selection that was the question, or the cursor. */
  position: vscode.Position;
  afterSelection: boolean;
  viewColumn?: vscode.ViewColumn;
}

let current: CompareSession | undefined;

export class CompareSession {
  private readonly texts: Record<Side, string> = { baseline: '', steered: '' };
  private abort?: AbortController;
  /** Keeps the insert position after the question while the user edits that file. */
  private readonly targetWatch: vscode.Disposable;

  private constructor(
    private readonly host: ServiceHost,
    private readonly panel: ComparePanel,
    private question: string,
    private target: InsertTarget | undefined,
  ) {
    this.targetWatch = vscode.workspace.onDidChangeTextDocument((e) => {
      const t = this.target;
      if (!t || e.document.uri.toString() !== t.uri.toString()) return;
      let at = { line: t.position.line, character: t.position.character };
      for (const c of e.contentChanges) at = placeAfterEdit(at, { start: c.range.start, end: c.range.end, text: c.text });
      t.position = new vscode.Position(at.line, at.character);
    });
  }

  /** Shows the panel (reusing the open one) and answers `question` on both sides. */
  static async show(host: ServiceHost, extensionUri: vscode.Uri, question: string, target?: InsertTarget): Promise<void> {
    let session: CompareSession | undefined;
    const panel = ComparePanel.createOrShow(extensionUri, { onMessage: (m) => session?.onMessage(m) });
    if (current && current.panel === panel) {
      if (current.abort) host.log.info('Asked again: the running answers stop for the new question');
      current.abort?.abort();
      session = current;
    } else {
      session = new CompareSession(host, panel, question, target);
      current = session;
      panel.onDidDispose(() => {
        session?.abort?.abort();
        session?.targetWatch.dispose();
        if (current === session) current = undefined;
      });
    }
    await session.run('compare', undefined, { question, target });
  }

  private onMessage(m: FromWebview): void {
    switch (m.type) {
      case 'rerunSteered':
        void this.run('steered', m.cV);
        break;
      case 'copy':
        void vscode.env.clipboard.writeText(this.texts[m.side]).then(() => vscode.window.setStatusBarMessage(`KV Steer: copied the ${m.side} answer`, 2000));
        break;
      case 'insert':
        void this.insert(m.side);
        break;
      case 'cancel':
        this.abort?.abort();
        break;
      case 'ready':
        break;
    }
  }

  /** Puts a side's answer into the editor the question came from, and moves the cursor after it. */
  private async insert(side: Side): Promise<void> {
    const t = this.target;
    const answer = this.texts[side];
    if (!t || !answer) return;
    const name = vscode.workspace.asRelativePath(t.uri);
    try {
      const doc = await vscode.workspace.openTextDocument(t.uri);
      const editor = await vscode.window.showTextDocument(doc, { viewColumn: t.viewColumn });
      const at = doc.validatePosition(t.position);
      const text = insertionText(answer, t.afterSelection, at.character === 0);
      if (!(await editor.edit((e) => e.insert(at, text)))) throw new Error('the editor refused the edit');
      const end = doc.positionAt(doc.offsetAt(at) + text.length);
      editor.selection = new vscode.Selection(end, end);
      editor.revealRange(new vscode.Range(at, end));
      vscode.window.setStatusBarMessage(`KV Steer: inserted the ${side} answer into ${name}`, 3000);
    } catch (e) {
      void vscode.window.showErrorMessage(`KV Steer: could not insert the ${side} answer into ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Answers the session's question, or `ask`'s, which becomes the session's once it starts. */
  private async run(mode: AskMode, cV?: number, ask?: { question: string; target: InsertTarget | undefined }): Promise<void> {
    const read = await readSettingsAfterWrites();
    if (!read.ok) {
      // The view keeps the last question and its answers: Insert, Copy and Re-run stay on them.
      void this.panel.post({ type: 'error', message: read.errors.join('\n') });
      void vscode.window.showErrorMessage(`KV Steer settings: ${read.errors.join('; ')}`);
      return;
    }
    if (ask) {
      this.question = ask.question;
      this.target = ask.target;
    }
    const settings: KvsteerSettings = read.settings;
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    // A run that a newer one replaced (asked again, or the slider) still winds down for a moment:
    // nothing of it may reach the view or the texts Insert and Copy use, which are the new run's.
    const live = () => this.abort === abort;
    const sides: Side[] = mode === 'compare' ? ['baseline', 'steered'] : ['steered'];
    for (const s of sides) this.texts[s] = '';
    const insertInto = this.target && vscode.workspace.asRelativePath(this.target.uri);
    void this.panel.post({ type: 'start', question: this.question, model: settings.model, vector: settings.vector, cV: cV ?? settings.cV ?? NaN, cK: settings.cK ?? NaN, sides, repeatPenalty: settings.repeatPenalty, insertInto });
    try {
      const result = await this.host.withLoadProgress((onLoad) =>
        this.host.service.ask(
          settings,
          {
            question: this.question,
            mode,
            cV,
            signal: abort.signal,
            onSideStart: (side, steered) => void (live() && this.panel.post({ type: 'sideStart', side, ...steered })),
            onSideDone: (side, r) => {
              if (!live()) return;
              this.texts[side] = r.text;
              void this.panel.post({ type: 'sideDone', side, stats: sideStats(r) });
            },
            onToken: (side, e) => {
              if (!e.textDelta || !live()) return;
              this.texts[side] += e.textDelta;
              void this.panel.post({ type: 'token', side, text: e.textDelta });
            },
          },
          (p) => {
            onLoad(p);
            if (live()) void this.panel.post({ type: 'status', text: p.fraction === undefined ? p.message : `${p.message} (${Math.round(p.fraction * 100)}%)` });
          },
        ),
      );
      this.host.log.info(`Answered (${mode}): ${sides.map((s) => `${s} ${result[s]?.tokens.length ?? 0} tokens, ${formatMsPerToken(result[s]?.msPerToken ?? NaN)} ms/token${result[s]?.prefillReused ? ', prefill reused' : ''}${result[s]?.stopReason === 'cancelled' ? ', cancelled' : ''}`).join('; ')}`);
      if (!live()) return;
      if (result.steered) void this.panel.post({ type: 'status', text: `Steered with ${result.steered.vector}: c_v ${result.steered.cV}, c_k ${result.steered.cK}` });
      if (result.steeredError) {
        this.host.log.error(result.steeredError);
        void this.panel.post({ type: 'error', side: 'steered', message: result.steeredError });
      }
      void this.panel.post({ type: 'end', cancelled: abort.signal.aborted });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      // Cancelled while waiting for the model or its turn: the user's choice, or a newer run's.
      if (isCancellation(e) && abort.signal.aborted) {
        this.host.log.info(`Cancelled (${mode}) before it answered`);
        if (live()) void this.panel.post({ type: 'end', cancelled: true });
        return;
      }
      this.host.log.error(message);
      if (live()) void this.panel.post({ type: 'error', message });
    } finally {
      if (this.abort === abort) this.abort = undefined;
    }
  }
}

