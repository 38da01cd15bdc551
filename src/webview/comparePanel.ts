/**
 * The side-by-side webview panel (baseline vs steered answer): one instance at most, revealed
 * when it exists. It owns the VS Code side of the protocol in protocol.ts: messages posted
 * before the page said 'ready' are buffered and flushed in order when it does, and incoming
 * messages are validated with `parseFromWebview` (anything else is ignored). The HTML comes
 * from the VS Code-free `renderCompareHtml`; scripts run only with a fresh nonce, and only
 * media/ is readable by the page.
 */
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import { WEBVIEW_TYPE } from '../ids';
import { renderCompareHtml } from './compareHtml';
import { FromWebview, ToWebview, parseFromWebview } from './protocol';

export interface ComparePanelHandlers {
  /** Called with every valid message from the page, 'ready' included. */
  onMessage(msg: FromWebview): void;
}

interface Pending {
  msg: ToWebview;
  resolve(delivered: boolean): void;
}

export class ComparePanel {
  private static current: ComparePanel | undefined;

  private readonly disposables: vscode.Disposable[] = [];
  private readonly disposeEmitter = new vscode.EventEmitter<void>();
  /** Fires once, when the panel is closed by the user or disposed. */
  readonly onDidDispose: vscode.Event<void> = this.disposeEmitter.event;
  private pending: Pending[] = [];
  private ready = false;
  private disposed = false;

  /**
   * Reveals the open panel, or opens one beside the active editor. The handlers given last
   * receive the page's messages (a panel that is revealed again takes the new ones).
   */
  static createOrShow(extensionUri: vscode.Uri, handlers: ComparePanelHandlers): ComparePanel {
    const existing = ComparePanel.current;
    if (existing) {
      existing.handlers = handlers;
      existing.panel.reveal(undefined, true);
      return existing;
    }
    const media = vscode.Uri.joinPath(extensionUri, 'media');
    const panel = vscode.window.createWebviewPanel(
      WEBVIEW_TYPE,
      'KV Steer: Compare',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { enableScripts: true, localResourceRoots: [media], retainContextWhenHidden: true },
    );
    ComparePanel.current = new ComparePanel(panel, media, handlers);
    return ComparePanel.current;
  }

  private constructor(
    private readonly panel: vscode.WebviewPanel,
    media: vscode.Uri,
    private handlers: ComparePanelHandlers,
  ) {
    this.disposables.push(this.disposeEmitter);
    const webview = panel.webview;
    webview.html = renderCompareHtml({
      cspSource: webview.cspSource,
      nonce: crypto.randomBytes(16).toString('base64'),
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'compare.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(media, 'compare.css')).toString(),
    });
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)),
    );
  }

  /**
   * Sends a message to the page. Before the page said 'ready' the message is kept and the
   * result resolves when it is delivered; after `dispose` it resolves to false.
   */
  post(msg: ToWebview): Thenable<boolean> {
    if (this.disposed) return Promise.resolve(false);
    if (!this.ready) return new Promise<boolean>((resolve) => this.pending.push({ msg, resolve }));
    return this.panel.webview.postMessage(msg);
  }

  /** Closes the panel and releases everything it holds. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (ComparePanel.current === this) ComparePanel.current = undefined;
    for (const p of this.pending.splice(0)) p.resolve(false);
    this.disposeEmitter.fire();
    this.panel.dispose();
    while (this.disposables.length) this.disposables.pop()?.dispose();
  }

  private receive(raw: unknown): void {
    const msg = parseFromWebview(raw);
    if (!msg) return;
    if (msg.type === 'ready') this.flush();
    this.handlers.onMessage(msg);
  }

  /** Delivers the buffered messages in the order they were posted. */
  private flush(): void {
    this.ready = true;
    for (const { msg, resolve } of this.pending.splice(0)) {
      this.panel.webview.postMessage(msg).then(resolve, () => resolve(false));
    }
  }
}
