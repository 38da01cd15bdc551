/**
 * The HTML skeleton of the side-by-side webview (baseline vs steered), as a pure function of
 * the CSP source, a script nonce and the two asset URIs, so that it can be unit-tested without
 * VS Code. It holds no model text: media/compare.js fills the skeleton from protocol messages
 * with textContent. Every element a test looks for carries a `data-testid`.
 */
import type { Side } from './protocol';

export interface CompareHtmlInput {
  /** `webview.cspSource`: the origin the webview's own resources are served from. */
  cspSource: string;
  /** A fresh random nonce (base64) that the only script tag carries. */
  nonce: string;
  /** `asWebviewUri` of media/compare.js. */
  scriptUri: string;
  /** `asWebviewUri` of media/compare.css. */
  styleUri: string;
}

/** Escapes text for a double-quoted HTML attribute value. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const SIDE_TITLES: Record<Side, string> = { baseline: 'Baseline', steered: 'Steered' };

/** One column: title, state badge, insert and copy buttons, error box, answer area and stats. */
function column(side: Side, extra = ''): string {
  const title = SIDE_TITLES[side];
  const cv = side === 'steered' ? `<span class="chip" data-testid="steered-cv" title="The value strength this answer ran with" hidden>c<sub>v</sub> <span data-role="cv"></span></span>` : '';
  return `
    <section class="column" id="column-${side}" data-side="${side}" data-testid="column-${side}" data-state="idle" aria-labelledby="title-${side}">
      <div class="column-header">
        <h2 class="column-title" id="title-${side}">${title}</h2>
        ${cv}
        <span class="badge" data-testid="badge-${side}" data-role="badge">Idle</span>
        <span class="spacer"></span>
        <button type="button" class="secondary" data-testid="insert-${side}" data-role="insert" aria-label="Insert the ${side} answer into the editor" hidden disabled>Insert</button>
        <button type="button" class="secondary" data-testid="copy-${side}" data-role="copy" aria-label="Copy the ${side} answer" disabled>Copy</button>
      </div>
      <div class="error" data-testid="error-${side}" data-role="error" role="alert" hidden></div>
      <div class="answer" data-testid="answer-${side}" data-role="answer" aria-live="polite" aria-busy="false" aria-label="${title} answer" tabindex="0" data-placeholder="No answer yet."></div>
      <dl class="stats" data-testid="stats-${side}" data-role="stats" aria-label="${title} statistics">
        <div class="stat"><dt>Tokens</dt><dd><span data-stat="tokens"></span></dd></div>
        <div class="stat"><dt>ms / token</dt><dd><span data-stat="msPerToken"></span></dd></div>
        <div class="stat"><dt>Total</dt><dd><span data-stat="totalMs"></span><span class="unit"> ms</span></dd></div>
        <div class="stat"><dt>Stop</dt><dd><span data-stat="stopReason"></span></dd></div>
      </dl>${extra}
    </section>`;
}

/** The strength slider and re-run button under the steered column. */
const steeredControls = `
      <div class="controls" data-testid="steered-controls">
        <label class="cv-label" for="cv-slider">Value strength c<sub>v</sub></label>
        <input type="range" id="cv-slider" data-testid="cv-slider" min="0" max="12" step="0.5" value="0" aria-label="Steering strength c_v" aria-describedby="cv-hint">
        <output class="cv-value" for="cv-slider" data-testid="cv-value" aria-hidden="true">0</output>
        <button type="button" data-testid="rerun-steered" aria-label="Re-run the steered answer with the chosen strength" disabled>Re-run steered</button>
        <p class="hint" id="cv-hint">Enter on the slider re-runs the steered side only.</p>
      </div>`;

/** The complete HTML document of the compare webview. */
export function renderCompareHtml({ cspSource, nonce, scriptUri, styleUri }: CompareHtmlInput): string {
  const csp = `default-src 'none'; style-src ${cspSource}; script-src 'nonce-${nonce}'; img-src ${cspSource}; font-src ${cspSource};`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${esc(csp)}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${esc(styleUri)}">
  <title>KV Steer: baseline vs steered</title>
</head>
<body>
  <header class="top">
    <p class="eyebrow">Question</p>
    <h1 class="question empty" data-testid="question" tabindex="0">Run “KV Steer: Ask with reasoning steering” to compare the answers.</h1>
    <ul class="meta" data-testid="meta" aria-label="Run settings">
      <li><span class="meta-key">Model</span> <span class="meta-value" data-testid="meta-model">—</span></li>
      <li><span class="meta-key">Vector</span> <span class="meta-value" data-testid="meta-vector">—</span></li>
      <li><span class="meta-key">c<sub>v</sub></span> <span class="meta-value" data-testid="meta-cv">—</span></li>
      <li><span class="meta-key">c<sub>k</sub></span> <span class="meta-value" data-testid="meta-ck">—</span></li>
      <li><span class="meta-key">Repeat penalty</span> <span class="meta-value" data-testid="meta-repeat">—</span></li>
      <li class="meta-note" data-testid="meta-vector-note-item" hidden><span class="meta-key">Note</span> <span class="meta-value" data-testid="meta-vector-note"></span></li>
    </ul>
    <div class="statusbar">
      <p class="status" data-testid="status" role="status" aria-live="polite"></p>
      <button type="button" class="secondary" data-testid="cancel" aria-label="Cancel generation (Escape)" hidden>Cancel</button>
    </div>
    <div class="error global" data-testid="error-global" role="alert" hidden></div>
  </header>
  <main class="columns" data-testid="columns">${column('baseline')}${column('steered', steeredControls)}
  </main>
  <script nonce="${esc(nonce)}" src="${esc(scriptUri)}"></script>
</body>
</html>
`;
}
