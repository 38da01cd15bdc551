/**
 * The side-by-side webview's script (media/compare.js) in a stand-in page: what it shows and
 * posts back for the messages the extension sends, in the orders a run can produce them.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { loadCompareView } from '../support/compareView';

const start = (over: Record<string, unknown> = {}) => ({ type: 'start', question: 'Why is the sky blue?', model: 'smol', vector: 'reasoning', cV: 4, cK: 0, sides: ['baseline', 'steered'], insertInto: 'a.md', ...over });
const stats = { tokens: 3, msPerToken: 10, totalMs: 40, stopReason: 'eos' };

/** A compare run that answered both sides and ended. */
function finishedRun(v: ReturnType<typeof loadCompareView>, over: Record<string, unknown> = {}, cV = 4): void {
  v.send(start({ cV, ...over }));
  v.send({ type: 'sideStart', side: 'baseline' });
  v.send({ type: 'token', side: 'baseline', text: 'Rayleigh <b>scattering</b>.' });
  v.send({ type: 'sideDone', side: 'baseline', stats });
  v.send({ type: 'sideStart', side: 'steered', cV, cK: 0 });
  v.send({ type: 'token', side: 'steered', text: 'First, light.' });
  v.send({ type: 'sideDone', side: 'steered', stats });
  v.send({ type: 'end', cancelled: false });
}

test('streamed model text is shown as text, and a finished run offers Copy, Insert and Re-run', () => {
  const v = loadCompareView();
  assert.deepEqual(v.posted, [{ type: 'ready' }]);
  finishedRun(v);
  assert.equal(v.el('answer-baseline').textContent, 'Rayleigh <b>scattering</b>.');
  assert.equal(v.el('badge-steered').textContent, 'Done');
  assert.equal(v.el('cancel').hidden, true);
  assert.equal(v.el('copy-baseline').disabled, false);
  assert.equal(v.el('insert-steered').disabled, false);
  assert.equal(v.el('rerun-steered').disabled, false);
});

test('a negative strength from the settings stays on the slider, and Re-run steered runs with it, not with 0', () => {
  const v = loadCompareView();
  finishedRun(v, {}, -4);
  assert.equal(v.el('meta-cv').textContent, '-4');
  assert.equal(v.slider.value, '-4');
  v.el('rerun-steered').click();
  assert.deepEqual(v.posted.at(-1), { type: 'rerunSteered', cV: -4 });
  // A page reloaded from its saved state keeps it too.
  const again = loadCompareView(v.saved());
  assert.equal(again.slider.value, '-4');
});

test('a strength the user picks on the slider while the baseline answers is kept when the steered side starts', () => {
  const v = loadCompareView();
  v.send(start({ cV: NaN }));
  v.send({ type: 'sideStart', side: 'baseline' });
  v.slider.value = '8';
  v.slider.dispatch('input');
  v.send({ type: 'token', side: 'baseline', text: 'Because' });
  v.send({ type: 'sideDone', side: 'baseline', stats });
  v.send({ type: 'sideStart', side: 'steered', cV: 4, cK: 0 });
  assert.equal(v.el('meta-cv').textContent, '4', 'the header shows the strength the steered side runs with');
  assert.equal(v.slider.value, '8');
  v.send({ type: 'sideDone', side: 'steered', stats });
  v.send({ type: 'end', cancelled: false });
  v.el('rerun-steered').click();
  assert.deepEqual(v.posted.at(-1), { type: 'rerunSteered', cV: 8 });
});

test('the slider shows the strength a run really uses when the user has not moved it', () => {
  const v = loadCompareView();
  v.send(start({ cV: NaN }));
  v.send({ type: 'sideStart', side: 'steered', cV: 6.5, cK: 0 });
  assert.equal(v.slider.value, '6.5');
  // A moved slider counts for its own run only.
  v.slider.value = '2';
  v.slider.dispatch('input');
  v.send({ type: 'end', cancelled: true });
  v.send(start({ cV: NaN }));
  v.send({ type: 'sideStart', side: 'steered', cV: 5, cK: 0 });
  assert.equal(v.slider.value, '5');
});

test('a run that fails while the model loads leaves no loading progress beside its error', () => {
  const v = loadCompareView();
  v.send(start());
  v.send({ type: 'status', text: 'Downloading the model (40%)' });
  v.send({ type: 'error', message: 'could not download the model: offline' });
  assert.equal(v.el('error-global').textContent, 'could not download the model: offline');
  assert.equal(v.el('status').textContent, '');
  assert.equal(v.el('cancel').hidden, true);
  assert.equal(v.el('badge-baseline').textContent, 'Error');
});

test('Cancel, once pressed, says to assistive technology that it is cancelling, and a second press sends nothing', () => {
  const v = loadCompareView();
  v.send(start());
  v.send({ type: 'sideStart', side: 'baseline' });
  v.el('cancel').click();
  v.key('Escape');
  v.el('cancel').click();
  assert.deepEqual(v.posted.filter((m) => (m as { type: string }).type === 'cancel'), [{ type: 'cancel' }]);
  assert.equal(v.el('cancel').disabled, true);
  assert.equal(v.el('cancel').textContent, 'Cancelling…');
  assert.equal(v.el('cancel').getAttribute('aria-label'), 'Cancelling…');
  v.send({ type: 'sideDone', side: 'baseline', stats: { ...stats, stopReason: 'cancelled' } });
  v.send({ type: 'end', cancelled: true });
  assert.equal(v.el('cancel').hidden, true);
  assert.equal(v.el('status').textContent, 'Cancelled');
  assert.equal(v.el('badge-baseline').textContent, 'Stopped');
  assert.equal(v.el('badge-steered').textContent, 'Stopped');
  v.send(start());
  assert.equal(v.el('cancel').getAttribute('aria-label'), 'Cancel generation (Escape)');
});

// Keyboard focus: a control that goes away under it (hidden or disabled) hands it on, so that a
// keyboard or screen-reader user is not dropped on the page's body; focus that is elsewhere, or
// not in the page at all, stays where it is.

test('keyboard focus moves from Cancel to Re-run steered when a run ends', () => {
  const v = loadCompareView();
  v.send(start());
  v.send({ type: 'sideStart', side: 'baseline' });
  v.el('cancel').focus();
  assert.equal(v.focused(), 'cancel');
  v.send({ type: 'sideDone', side: 'baseline', stats });
  v.send({ type: 'sideStart', side: 'steered', cV: 4, cK: 0 });
  v.send({ type: 'sideDone', side: 'steered', stats });
  v.send({ type: 'end', cancelled: false });
  assert.equal(v.el('cancel').hidden, true);
  assert.equal(v.focused(), 'rerun-steered');
});

test('keyboard focus moves from Cancel to Re-run steered when a run fails', () => {
  const v = loadCompareView();
  v.send(start());
  v.el('cancel').focus();
  v.send({ type: 'error', message: 'could not load the model' });
  assert.equal(v.focused(), 'rerun-steered');
});

test('keyboard focus moves from Re-run steered to Cancel when the re-run starts, and back when it ends', () => {
  const v = loadCompareView();
  finishedRun(v);
  v.el('rerun-steered').focus();
  v.el('rerun-steered').click();
  v.send(start({ sides: ['steered'] }));
  assert.equal(v.el('rerun-steered').disabled, true);
  assert.equal(v.focused(), 'cancel');
  v.send({ type: 'sideStart', side: 'steered', cV: 4, cK: 0 });
  v.send({ type: 'sideDone', side: 'steered', stats });
  v.send({ type: 'end', cancelled: false });
  assert.equal(v.focused(), 'rerun-steered');
});

test('Cancel pressed by keyboard hands focus to the strength slider while the run stops, and leaves it there', () => {
  const v = loadCompareView();
  v.send(start());
  v.send({ type: 'sideStart', side: 'baseline' });
  v.el('cancel').focus();
  v.el('cancel').click();
  // Re-run steered waits for the run to end: the slider (where Enter re-runs) takes the focus.
  assert.equal(v.el('cancel').disabled, true);
  assert.equal(v.focused(), 'cv-slider');
  v.send({ type: 'sideDone', side: 'baseline', stats: { ...stats, stopReason: 'cancelled' } });
  v.send({ type: 'end', cancelled: true });
  assert.equal(v.focused(), 'cv-slider');
});

test("keyboard focus on a column's Insert or Copy moves to that column's answer when a new run empties it", () => {
  const v = loadCompareView();
  finishedRun(v);
  v.el('insert-steered').focus();
  v.send(start({ sides: ['steered'] }));
  assert.equal(v.focused(), 'answer-steered');
  v.send({ type: 'sideStart', side: 'steered', cV: 4, cK: 0 });
  v.send({ type: 'token', side: 'steered', text: 'Light' });
  v.el('copy-steered').focus();
  v.send(start({ sides: ['steered'] }));
  assert.equal(v.focused(), 'answer-steered');
});

test('keyboard focus in the baseline column moves to the steered answer when a steered re-run hides that column', () => {
  const v = loadCompareView();
  v.send(start());
  v.send({ type: 'sideStart', side: 'baseline' });
  v.send({ type: 'token', side: 'baseline', text: 'Because' });
  v.send({ type: 'error', side: 'baseline', message: 'out of memory' });
  v.send({ type: 'end', cancelled: false });
  v.el('copy-baseline').focus();
  assert.equal(v.focused(), 'copy-baseline');
  v.send(start({ sides: ['steered'] }));
  assert.equal(v.el('column-baseline').hidden, true);
  assert.equal(v.focused(), 'answer-steered');
});

test('focus is not taken when it was elsewhere in the page', () => {
  const v = loadCompareView();
  finishedRun(v);
  // Enter on the slider re-runs the steered side: the slider keeps the focus throughout.
  v.slider.focus();
  v.slider.dispatch('keydown', { key: 'Enter' });
  assert.deepEqual(v.posted.at(-1), { type: 'rerunSteered', cV: 4 });
  v.send(start({ sides: ['steered'] }));
  assert.equal(v.focused(), 'cv-slider');
  v.send({ type: 'end', cancelled: false });
  assert.equal(v.focused(), 'cv-slider');
  // Nor when nothing in the page had it.
  const w = loadCompareView();
  finishedRun(w);
  assert.equal(w.focused(), 'body');
  assert.equal(w.hasFocus(), false);
});

test('focus is not taken from the editor when the page does not have it', () => {
  const v = loadCompareView();
  v.send(start());
  v.el('cancel').focus();
  // The user goes on typing in the editor while the run ends.
  v.leave();
  v.send({ type: 'end', cancelled: false });
  assert.equal(v.hasFocus(), false);
});

test('keyboard focus comes back to the control that had it when the user returns to the hidden panel', () => {
  const v = loadCompareView();
  finishedRun(v);
  v.slider.focus();
  // Another tab in front of the panel: its page keeps running, but its focus falls to the body.
  v.leave({ panelHidden: true });
  assert.equal(v.focused(), 'body');
  v.comeBack();
  assert.equal(v.focused(), 'cv-slider');
});

test('keyboard focus on Cancel comes back to Re-run steered when the run ended while the user was in the editor', () => {
  const v = loadCompareView();
  v.send(start());
  v.el('cancel').focus();
  v.leave();
  v.send({ type: 'end', cancelled: false });
  assert.equal(v.hasFocus(), false, 'nothing is focused while the user is away');
  v.comeBack();
  assert.equal(v.focused(), 'rerun-steered');
});

test('returning to the page leaves focus where it already is, and focuses nothing when no control had it', () => {
  const v = loadCompareView();
  finishedRun(v);
  v.el('answer-baseline').focus();
  v.leave();
  v.comeBack();
  assert.equal(v.focused(), 'answer-baseline');
  const w = loadCompareView();
  finishedRun(w);
  w.comeBack();
  assert.equal(w.focused(), 'body');
});

test("the header shows the steered side's note on its vector's model as text, and hides it for a run without one", () => {
  const v = loadCompareView();
  const note = 'steering vector "reasoning" was extracted on <i>SmolLM2-135M</i>, not on the loaded smol';
  assert.equal(v.el('meta-vector-note-item').hidden, true, 'no note before any run');
  v.send(start());
  v.send({ type: 'sideStart', side: 'steered', cV: 4, cK: 0, vectorNote: note });
  assert.equal(v.el('meta-vector-note').textContent, note);
  assert.equal(v.el('meta-vector-note-item').hidden, false);
  v.send({ type: 'sideDone', side: 'steered', stats });
  v.send({ type: 'end', cancelled: false });
  const reloaded = loadCompareView(v.saved());
  assert.equal(reloaded.el('meta-vector-note').textContent, note, 'a reloaded page shows it again');
  assert.equal(reloaded.el('meta-vector-note-item').hidden, false);
  finishedRun(v, { vector: 'own' });
  assert.equal(v.el('meta-vector-note-item').hidden, true, "a run whose steered side gives no note shows none");
  assert.equal(v.el('meta-vector-note').textContent, '');
});
