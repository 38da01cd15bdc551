// @ts-check
/**
 * The script of the side-by-side webview (baseline vs steered answer). It fills the skeleton
 * from compareHtml.ts with the messages of src/webview/protocol.ts (whose shapes the JSDoc
 * types below mirror), posts the user's actions back, and keeps what it shows in
 * getState/setState so that a reloaded page shows the last question, answers and stats again.
 * Model text is untrusted: it only ever reaches the page as text nodes, never as HTML.
 */
(function () {
  'use strict';

  // ── protocol (mirrors src/webview/protocol.ts) ──────────────────────────────────────────

  /** @typedef {'baseline' | 'steered'} Side */
  /** @typedef {{ tokens: number, msPerToken: number | null, totalMs: number, stopReason: string }} SideStats */
  /**
   * @typedef {{ type: 'start', question: string, model: string, vector: string, cV: number, cK: number, sides: Side[], repeatPenalty?: { penalty: number, lastN: number }, insertInto?: string }
   *   | { type: 'sideStart', side: Side, cV?: number, cK?: number, vectorNote?: string }
   *   | { type: 'token', side: Side, text: string }
   *   | { type: 'sideDone', side: Side, stats: SideStats }
   *   | { type: 'error', side?: Side, message: string }
   *   | { type: 'status', text: string }
   *   | { type: 'end', cancelled: boolean }} ToWebview
   */
  /**
   * @typedef {{ type: 'ready' }
   *   | { type: 'rerunSteered', cV: number }
   *   | { type: 'copy', side: Side }
   *   | { type: 'insert', side: Side }
   *   | { type: 'cancel' }} FromWebview
   */

  // ── view state (what getState/setState keep) ────────────────────────────────────────────

  /** @typedef {'idle' | 'running' | 'done' | 'error'} ColumnState */
  /**
   * @typedef {object} ColumnModel
   * @property {boolean} visible  shown at all (the last run asked for this side, or kept it)
   * @property {ColumnState} state
   * @property {boolean} queued   'idle' but part of the current run, waiting for its turn
   * @property {string} text      the answer so far
   * @property {SideStats | null} stats
   * @property {string} error
   * @property {number | null} cV the value strength this side ran with (steered only)
   */
  /**
   * @typedef {object} ViewState
   * @property {1} version
   * @property {string | null} question
   * @property {string} model
   * @property {string} vector
   * @property {string} vectorNote what the steered side said of its vector's model ("" when nothing)
   * @property {number | null} cV
   * @property {number | null} cK
   * @property {string} repeatPenalty how the answers were decoded: "off" or e.g. "1.1 · last 256"
   * @property {string} insertInto the editor an answer can be inserted into ("" when none)
   * @property {string} status
   * @property {string} globalError
   * @property {number} slider
   * @property {boolean} sliderMoved the user moved the slider since the run started: the strength
   *   the steered side then reports is shown in the header, but no longer moves the slider
   * @property {boolean} cancelling
   * @property {Record<Side, ColumnModel>} columns
   */

  /** @typedef {{ postMessage(msg: FromWebview): void, getState(): unknown, setState(state: ViewState): void }} VsCodeApi */

  /** VS Code injects `acquireVsCodeApi`; it may be called only once. */
  const vscode = /** @type {{ acquireVsCodeApi(): VsCodeApi }} */ (/** @type {unknown} */ (globalThis)).acquireVsCodeApi();

  /** @type {Side[]} */
  const SIDES = ['baseline', 'steered'];
  const SLIDER_MIN = 0;

  /** @returns {ColumnModel} */
  function emptyColumn() {
    return { visible: true, state: 'idle', queued: false, text: '', stats: null, error: '', cV: null };
  }

  /** @returns {ViewState} */
  function initialState() {
    return {
      version: 1,
      question: null,
      model: '',
      vector: '',
      vectorNote: '',
      cV: null,
      cK: null,
      repeatPenalty: '',
      insertInto: '',
      status: '',
      globalError: '',
      slider: SLIDER_MIN,
      sliderMoved: false,
      cancelling: false,
      columns: { baseline: emptyColumn(), steered: emptyColumn() },
    };
  }

  /**
   * The saved state when it looks like ours, else a fresh one.
   * @param {unknown} saved
   * @returns {ViewState}
   */
  function restore(saved) {
    if (typeof saved !== 'object' || saved === null) return initialState();
    const s = /** @type {Partial<ViewState>} */ (saved);
    if (s.version !== 1 || typeof s.columns !== 'object' || s.columns === null) return initialState();
    const base = initialState();
    const columns = /** @type {Partial<Record<Side, Partial<ColumnModel>>>} */ (s.columns);
    return {
      ...base,
      ...s,
      columns: { baseline: { ...emptyColumn(), ...columns.baseline }, steered: { ...emptyColumn(), ...columns.steered } },
    };
  }

  /** @type {ViewState} */
  let state = restore(vscode.getState());

  // ── DOM ─────────────────────────────────────────────────────────────────────────────────

  /**
   * The element matching `selector`, checked to be a `type`.
   * @template {Element} T
   * @param {ParentNode} root
   * @param {string} selector
   * @param {{ new (): T, prototype: T }} type
   * @returns {T}
   */
  function find(root, selector, type) {
    const el = root.querySelector(selector);
    if (!(el instanceof type)) throw new Error(`compare.js: ${selector} is missing from the page`);
    return el;
  }

  /** @param {string} id */
  const byTestId = (id) => find(document, `[data-testid="${id}"]`, HTMLElement);

  const ui = {
    question: byTestId('question'),
    model: byTestId('meta-model'),
    vector: byTestId('meta-vector'),
    vectorNote: byTestId('meta-vector-note'),
    vectorNoteItem: byTestId('meta-vector-note-item'),
    metaCv: byTestId('meta-cv'),
    metaCk: byTestId('meta-ck'),
    metaRepeat: byTestId('meta-repeat'),
    status: byTestId('status'),
    cancel: find(document, '[data-testid="cancel"]', HTMLButtonElement),
    globalError: byTestId('error-global'),
    columnsEl: byTestId('columns'),
    slider: find(document, '[data-testid="cv-slider"]', HTMLInputElement),
    sliderValue: find(document, '[data-testid="cv-value"]', HTMLOutputElement),
    rerun: find(document, '[data-testid="rerun-steered"]', HTMLButtonElement),
  };

  /**
   * @typedef {object} ColumnUi
   * @property {HTMLElement} root
   * @property {HTMLElement} badge
   * @property {HTMLElement | null} cvChip
   * @property {HTMLElement | null} cvChipValue
   * @property {HTMLButtonElement} copy
   * @property {HTMLButtonElement} insert
   * @property {HTMLElement} error
   * @property {HTMLElement} answer
   * @property {Text} answerText  the one text node the streamed answer goes into
   * @property {Record<'tokens' | 'msPerToken' | 'totalMs' | 'stopReason', HTMLElement>} stats
   */

  /** @param {Side} side @returns {ColumnUi} */
  function columnUi(side) {
    const root = byTestId(`column-${side}`);
    const stats = byTestId(`stats-${side}`);
    const answer = byTestId(`answer-${side}`);
    const answerText = document.createTextNode('');
    answer.replaceChildren(answerText);
    return {
      root,
      badge: byTestId(`badge-${side}`),
      cvChip: side === 'steered' ? byTestId('steered-cv') : null,
      cvChipValue: side === 'steered' ? find(byTestId('steered-cv'), '[data-role="cv"]', HTMLElement) : null,
      copy: find(document, `[data-testid="copy-${side}"]`, HTMLButtonElement),
      insert: find(document, `[data-testid="insert-${side}"]`, HTMLButtonElement),
      error: byTestId(`error-${side}`),
      answer,
      answerText,
      stats: {
        tokens: find(stats, '[data-stat="tokens"]', HTMLElement),
        msPerToken: find(stats, '[data-stat="msPerToken"]', HTMLElement),
        totalMs: find(stats, '[data-stat="totalMs"]', HTMLElement),
        stopReason: find(stats, '[data-stat="stopReason"]', HTMLElement),
      },
    };
  }

  /** What the skeleton says before any question (shown again while none is known). */
  const emptyQuestion = ui.question.textContent ?? '';

  /** @type {Record<Side, ColumnUi>} */
  const cols = { baseline: columnUi('baseline'), steered: columnUi('steered') };

  // ── formatting ──────────────────────────────────────────────────────────────────────────

  /** @param {unknown} n @returns {n is number} */
  const isNum = (n) => typeof n === 'number' && Number.isFinite(n);

  /** A strength as plain digits ("4", "4.5"), or an em dash when unknown. @param {number | null} n */
  const fmtStrength = (n) => (isNum(n) ? String(Math.round(n * 100) / 100) : '—');

  /** Stats are shown as bare numbers (units sit outside the [data-stat] element). */
  const fmtStat = {
    /** @param {number} n */ tokens: (n) => (isNum(n) ? String(Math.round(n)) : ''),
    /** @param {number | null} n */ msPerToken: (n) => (isNum(n) ? n.toFixed(1) : '—'),
    /** @param {number} n */ totalMs: (n) => (isNum(n) ? String(Math.round(n)) : ''),
  };

  /**
   * Why an answer ended, in a word that fits its column, and in a sentence for the tooltip that
   * names the setting behind it. The engine's own term (eos, max-tokens, …) is kept in data-reason.
   * @type {Record<string, [string, string]>}
   */
  const STOP_REASONS = {
    eos: ['end', 'The model ended its answer.'],
    'max-tokens': ['budget', 'The token budget ran out (kvsteer.maxNewTokens).'],
    'stop-string': ['stop text', 'A stop text was reached.'],
    'context-full': ['context', "The model's context window is full."],
    cancelled: ['stopped', 'You stopped it.'],
    repetition: ['loop', 'It began to repeat itself, so it was stopped (kvsteer.stopOnRepetition).'],
  };

  /** @param {number} n */
  const clampSlider = (n) => Math.min(Number(ui.slider.max), Math.max(Number(ui.slider.min), Math.round(n * 2) / 2));

  /**
   * Widens the slider (0–12) to take a strength outside it: the settings allow -100 to 100, and a
   * re-run must not quietly change a strength the slider cannot show. @param {number} n
   */
  function fitSlider(n) {
    if (n > Number(ui.slider.max)) ui.slider.max = String(Math.ceil(n));
    if (n < Number(ui.slider.min)) ui.slider.min = String(Math.floor(n));
  }

  // ── rendering (state → DOM; model text only through text nodes) ─────────────────────────

  function generating() {
    return SIDES.some((s) => state.columns[s].visible && (state.columns[s].state === 'running' || state.columns[s].queued));
  }

  function renderHeader() {
    const q = state.question;
    ui.question.textContent = q ?? emptyQuestion;
    ui.question.classList.toggle('empty', q === null);
    ui.model.textContent = state.model || '—';
    ui.vector.textContent = state.vector || '—';
    ui.vectorNote.textContent = state.vectorNote;
    ui.vectorNoteItem.hidden = state.vectorNote === '';
    ui.metaCv.textContent = fmtStrength(state.cV);
    ui.metaCk.textContent = fmtStrength(state.cK);
    ui.metaRepeat.textContent = state.repeatPenalty || '—';
    ui.status.textContent = state.status;
    ui.globalError.textContent = state.globalError;
    ui.globalError.hidden = state.globalError === '';

    const busy = generating();
    ui.cancel.hidden = !busy;
    ui.cancel.disabled = state.cancelling;
    ui.cancel.textContent = state.cancelling ? 'Cancelling…' : 'Cancel';
    // The label is what assistive technology reads, in place of the text: it changes with it.
    ui.cancel.setAttribute('aria-label', state.cancelling ? 'Cancelling…' : 'Cancel generation (Escape)');
    document.body.classList.toggle('busy', busy);

    const visible = SIDES.filter((s) => state.columns[s].visible);
    ui.columnsEl.dataset.count = String(visible.length);
    ui.rerun.disabled = q === null || busy;
    renderSlider();
  }

  function renderSlider() {
    ui.slider.value = String(state.slider);
    const text = fmtStrength(Number(ui.slider.value));
    ui.sliderValue.textContent = text;
    ui.slider.setAttribute('aria-valuetext', `c_v ${text}`);
  }

  /** @param {ColumnModel} c */
  function badgeText(c) {
    switch (c.state) {
      case 'idle':
        return c.queued ? 'Queued' : 'Idle';
      case 'running':
        return 'Generating';
      case 'done':
        // No statistics: the run was cancelled before this side started.
        return !c.stats || /cancel|abort/i.test(c.stats.stopReason) ? 'Stopped' : 'Done';
      case 'error':
        return 'Error';
    }
  }

  /** @param {ColumnModel} c */
  function placeholder(c) {
    switch (c.state) {
      case 'idle':
        return c.queued ? 'Waiting for its turn…' : 'No answer yet.';
      case 'running':
        return 'Generating…';
      case 'done':
        return c.stats ? '(empty answer)' : 'Cancelled before it started.';
      case 'error':
        return 'No answer.';
    }
  }

  /** @param {Side} side */
  function renderColumn(side) {
    const c = state.columns[side];
    const u = cols[side];
    u.root.hidden = !c.visible;
    u.root.dataset.state = c.state;
    u.root.toggleAttribute('data-queued', c.queued);
    u.badge.textContent = badgeText(c);
    if (u.cvChip && u.cvChipValue) {
      u.cvChip.hidden = !isNum(c.cV);
      u.cvChipValue.textContent = fmtStrength(c.cV);
    }
    u.error.textContent = c.error;
    u.error.hidden = c.error === '';
    u.answer.dataset.placeholder = placeholder(c);
    u.answer.setAttribute('aria-busy', String(c.state === 'running'));
    u.answer.classList.toggle('has-text', c.text !== '');
    u.copy.disabled = c.text === '';
    // Inserting a finished answer only, into the editor the question came from.
    u.insert.hidden = state.insertInto === '';
    u.insert.disabled = c.text === '' || c.state === 'running';
    u.insert.title = state.insertInto ? `Insert the ${side} answer into ${state.insertInto}` : '';
    u.insert.setAttribute('aria-label', u.insert.title || `Insert the ${side} answer into the editor`);
    const st = c.stats;
    u.stats.tokens.textContent = st ? fmtStat.tokens(st.tokens) : '';
    u.stats.msPerToken.textContent = st ? fmtStat.msPerToken(st.msPerToken) : '';
    u.stats.totalMs.textContent = st ? fmtStat.totalMs(st.totalMs) : '';
    const reason = st ? String(st.stopReason) : '';
    const [word, why] = STOP_REASONS[reason] ?? [reason, ''];
    u.stats.stopReason.textContent = word;
    u.stats.stopReason.title = why;
    u.stats.stopReason.dataset.reason = reason;
  }

  /** Replaces a column's answer text (a single text node; never parsed as HTML). @param {Side} side */
  function renderAnswer(side) {
    cols[side].answerText.data = state.columns[side].text;
  }

  function renderAll() {
    for (const s of SIDES) {
      renderColumn(s);
      renderAnswer(s);
    }
    renderHeader();
  }

  // ── keyboard focus ──────────────────────────────────────────────────────────────────────

  /**
   * Where keyboard focus goes when the element holding it is hidden or disabled, so that it does
   * not fall to the page's body (where a keyboard or screen-reader user must start again from the
   * top): the first of `next` that can take it, else the question. Cancel and Re-run steered hand
   * it to each other as a run starts and ends (the slider takes it while Re-run waits for a
   * cancelled run to end); a column's Insert and Copy hand it to each other, then to its answer.
   * @typedef {object} FocusStop
   * @property {Side | null} column the column it sits in, hidden with it (null: the header)
   * @property {HTMLElement[]} next
   */

  /** @type {Map<HTMLElement, FocusStop>} */
  const focusStops = new Map();
  focusStops.set(ui.question, { column: null, next: [] });
  focusStops.set(ui.cancel, { column: null, next: [ui.rerun, ui.slider] });
  focusStops.set(ui.rerun, { column: 'steered', next: [ui.cancel, ui.slider] });
  focusStops.set(ui.slider, { column: 'steered', next: [ui.cancel] });
  for (const side of SIDES) {
    const c = cols[side];
    const other = cols[side === 'baseline' ? 'steered' : 'baseline'];
    focusStops.set(c.insert, { column: side, next: [c.copy, c.answer, other.answer] });
    focusStops.set(c.copy, { column: side, next: [c.insert, c.answer, other.answer] });
    focusStops.set(c.answer, { column: side, next: [other.answer] });
  }

  /** Whether `el` (one of focusStops) can hold focus: shown, in a shown column, and enabled. @param {HTMLElement} el */
  function canFocus(el) {
    const stop = focusStops.get(el);
    if (!stop || el.hidden || (stop.column && cols[stop.column].root.hidden)) return false;
    return !((el instanceof HTMLButtonElement || el instanceof HTMLInputElement) && el.disabled);
  }

  /**
   * Runs `update`, and when it hid or disabled the element that had keyboard focus, moves the
   * focus on (see focusStops). Focus that was elsewhere stays there, and nothing is focused while
   * the page itself does not have the focus (the user is in the editor).
   * @param {() => void} update
   */
  function keepingFocus(update) {
    const had = document.activeElement;
    update();
    if (!(had instanceof HTMLElement) || !document.hasFocus() || canFocus(had)) return;
    handOn(had);
  }

  /** Focuses the first of `from`'s next stops that can take it, else the question. @param {HTMLElement} from */
  function handOn(from) {
    const stop = focusStops.get(from);
    if (!stop) return;
    const to = [...stop.next, ui.question].find(canFocus);
    if (to) to.focus();
  }

  /**
   * The control that last had keyboard focus. A webview whose panel was hidden (another tab in
   * front) comes back with the focus on its body: the page gives it back to this control (or to
   * the one after it, when it went away meanwhile), as the user left it.
   * @type {HTMLElement | null}
   */
  let lastFocused = null;

  /** On the page's return, when the focus is on nothing; focus the user put somewhere stays there. */
  function restoreFocus() {
    const active = document.activeElement;
    if (!lastFocused || (active && active !== document.body)) return;
    if (canFocus(lastFocused)) lastFocused.focus();
    else handOn(lastFocused);
  }

  // ── persistence ─────────────────────────────────────────────────────────────────────────

  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let saveTimer;
  /** Saves the state now, or soon (streamed tokens arrive many times a second). @param {boolean} [soon] */
  function save(soon = false) {
    if (soon) {
      if (saveTimer === undefined) saveTimer = setTimeout(() => save(), 250);
      return;
    }
    if (saveTimer !== undefined) clearTimeout(saveTimer);
    saveTimer = undefined;
    vscode.setState(state);
  }

  // ── messages from the extension ─────────────────────────────────────────────────────────

  /** @param {unknown} x @returns {x is Side} */
  const isSide = (x) => x === 'baseline' || x === 'steered';

  /** @param {Extract<ToWebview, { type: 'start' }>} m */
  function onStart(m) {
    const sides = Array.isArray(m.sides) ? m.sides.filter(isSide) : SIDES;
    // A run of one side for the same question and model (a steered re-run) keeps the other
    // side's finished answer beside it; otherwise only the sides of this run are shown.
    const sameQuestion = state.question === m.question && state.model === m.model;
    for (const s of SIDES) {
      const c = state.columns[s];
      if (sides.includes(s)) {
        state.columns[s] = { ...emptyColumn(), queued: true };
      } else if (!(sameQuestion && c.visible && c.state === 'done')) {
        state.columns[s] = { ...emptyColumn(), visible: false };
      }
    }
    state.question = String(m.question);
    state.insertInto = typeof m.insertInto === 'string' ? m.insertInto : '';
    state.model = String(m.model ?? '');
    state.vector = String(m.vector ?? '');
    // The steered side gives its vector's note (if any) when it starts.
    state.vectorNote = '';
    state.cV = isNum(m.cV) ? m.cV : null;
    state.cK = isNum(m.cK) ? m.cK : null;
    const rp = m.repeatPenalty;
    state.repeatPenalty = rp && isNum(rp.penalty) && isNum(rp.lastN) ? (rp.penalty === 1 ? 'off' : `${fmtStrength(rp.penalty)} · last ${rp.lastN}`) : '';
    if (sides.includes('steered')) state.columns.steered.cV = state.cV;
    if (isNum(m.cV)) {
      fitSlider(m.cV);
      state.slider = clampSlider(m.cV);
    }
    state.sliderMoved = false;
    state.status = '';
    state.globalError = '';
    state.cancelling = false;
  }

  /** @param {Extract<ToWebview, { type: 'sideStart' }>} m */
  function onSideStart(m) {
    // The steered side reports the strength it really uses (the vector's recommendation when
    // the settings leave it empty): show it in the header and on the slider.
    if (m.side === 'steered' && isNum(m.cV)) {
      state.cV = m.cV;
      if (!state.sliderMoved) {
        fitSlider(m.cV);
        state.slider = clampSlider(m.cV);
      }
    }
    if (m.side === 'steered' && isNum(m.cK)) state.cK = m.cK;
    if (m.side === 'steered') state.vectorNote = typeof m.vectorNote === 'string' ? m.vectorNote : '';
    const keepCv = state.columns[m.side].cV;
    state.columns[m.side] = { ...emptyColumn(), state: 'running', cV: m.side === 'steered' ? (isNum(m.cV) ? m.cV : (keepCv ?? state.cV)) : null };
    state.globalError = '';
  }

  /** @param {unknown} data */
  function onMessage(data) {
    if (typeof data !== 'object' || data === null) return;
    const m = /** @type {ToWebview} */ (data);
    switch (m.type) {
      case 'start':
        onStart(m);
        renderAll();
        save();
        return;
      case 'sideStart':
        if (!isSide(m.side)) return;
        onSideStart(m);
        renderAnswer(m.side);
        renderColumn(m.side);
        renderHeader();
        renderSlider();
        save();
        return;
      case 'token': {
        if (!isSide(m.side) || typeof m.text !== 'string') return;
        const c = state.columns[m.side];
        const first = !(c.state === 'running' && c.visible) || c.text === '';
        if (c.state !== 'running' || !c.visible) state.columns[m.side] = { ...c, visible: true, state: 'running', queued: false, error: '', stats: null };
        state.columns[m.side].text += m.text;
        cols[m.side].answerText.appendData(m.text);
        if (first) {
          renderColumn(m.side);
          renderHeader();
        }
        save(true);
        return;
      }
      case 'sideDone': {
        if (!isSide(m.side) || typeof m.stats !== 'object' || m.stats === null) return;
        const c = state.columns[m.side];
        state.columns[m.side] = { ...c, visible: true, state: 'done', queued: false, stats: m.stats };
        if (!generating()) state.cancelling = false;
        renderColumn(m.side);
        renderHeader();
        save();
        return;
      }
      case 'error': {
        const message = String(m.message ?? 'Unknown error');
        if (isSide(m.side)) {
          const c = state.columns[m.side];
          state.columns[m.side] = { ...c, visible: true, state: 'error', queued: false, error: message };
          renderColumn(m.side);
        } else {
          // The whole run failed: whatever had not finished will not, and its progress
          // ("Loading the model (40%)") is over too.
          state.globalError = message;
          if (generating()) state.status = '';
          for (const s of SIDES) {
            const c = state.columns[s];
            if (c.visible && (c.state === 'running' || c.queued)) state.columns[s] = { ...c, state: 'error', queued: false };
            renderColumn(s);
          }
        }
        if (!generating()) state.cancelling = false;
        renderHeader();
        save();
        return;
      }
      case 'status':
        state.status = typeof m.text === 'string' ? m.text : '';
        renderHeader();
        save();
        return;
      case 'end':
        // A side that never got its turn (the run was cancelled first) stops waiting.
        for (const s of SIDES) {
          const c = state.columns[s];
          if (c.visible && (c.state === 'running' || c.queued)) state.columns[s] = { ...c, state: 'done', queued: false, stats: null };
          renderColumn(s);
        }
        state.cancelling = false;
        if (m.cancelled === true) state.status = 'Cancelled';
        renderHeader();
        save();
        return;
      default:
        return;
    }
  }

  // ── user actions ────────────────────────────────────────────────────────────────────────

  /** @param {FromWebview} msg */
  const post = (msg) => vscode.postMessage(msg);

  function rerunSteered() {
    if (ui.rerun.disabled) return;
    post({ type: 'rerunSteered', cV: Number(ui.slider.value) });
  }

  function cancel() {
    if (!generating() || state.cancelling) return;
    state.cancelling = true;
    keepingFocus(renderHeader);
    save();
    post({ type: 'cancel' });
  }

  for (const side of SIDES) {
    cols[side].copy.addEventListener('click', () => post({ type: 'copy', side }));
    cols[side].insert.addEventListener('click', () => post({ type: 'insert', side }));
  }
  ui.cancel.addEventListener('click', cancel);
  ui.rerun.addEventListener('click', rerunSteered);
  ui.slider.addEventListener('input', () => {
    state.slider = Number(ui.slider.value);
    state.sliderMoved = true;
    renderSlider();
    save(true);
  });
  ui.slider.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      rerunSteered();
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && generating()) {
      e.preventDefault();
      cancel();
    }
  });
  window.addEventListener('message', (e) => keepingFocus(() => onMessage(e.data)));
  document.addEventListener('focusin', (e) => {
    if (e.target instanceof HTMLElement && focusStops.has(e.target)) lastFocused = e.target;
  });
  window.addEventListener('focus', restoreFocus);

  if (isNum(state.cV)) fitSlider(state.cV);
  if (isNum(state.slider)) fitSlider(state.slider);
  renderAll();
  post({ type: 'ready' });
})();
