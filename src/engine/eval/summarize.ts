/**
 * Aggregates evaluation rows into the paper's measures per method (and sweep variant): accuracy
 * per filter (mean ± std over seeds), mean generated tokens and words, loop rate, and ms/token
 * (token-weighted), plus the Figure 3 ratios of time per token against the baseline.
 */
import { FilterName } from './answerFilters';
import { GenerationRow, EvalMethod } from './runEval';
import { mean, std } from './metrics';

export interface MethodSummary {
  method: EvalMethod;
  variant: string;
  cK?: number;
  cV?: number;
  items: number;
  seeds: number;
  accuracy: Partial<Record<FilterName, { mean: number; std: number }>>;
  meanTokens: number;
  meanWords: number;
  loopRate: number;
  /**
   * Loop rate per band of answer length (generated tokens, bands of LENGTH_BAND up to the budget):
   * on small models long greedy answers loop whatever made them long, so a method's loop rate is
   * mostly its length; this separates the two.
   */
  loopsByLength: LengthBand[];
  /** NaN (null in summary.json) when no answer had a timed decode step (one-token answers). */
  msPerToken: number;
}

export interface LengthBand {
  /** Tokens in [from, to); the last band also holds answers of exactly `to` (the budget). */
  from: number;
  to: number;
  answers: number;
  loops: number;
}

export const LENGTH_BAND = 100;

export interface EvalSummary {
  task: string;
  model: string;
  decoding: string;
  maxNewTokens: number;
  command?: string;
  methods: MethodSummary[];
  /** ms/token of each method divided by the baseline's, measured in the same run. */
  timePerTokenRatio: Record<string, number>;
}

export function summarize(rows: GenerationRow[], meta: Omit<EvalSummary, 'methods' | 'timePerTokenRatio'>): EvalSummary {
  const groups = new Map<string, GenerationRow[]>();
  for (const r of rows) {
    const k = `${r.method}|${r.variant}`;
    (groups.get(k) ?? groups.set(k, []).get(k)!).push(r);
  }
  const methods: MethodSummary[] = [];
  for (const rs of groups.values()) {
    const bySeed = new Map<string, GenerationRow[]>();
    for (const r of rs) (bySeed.get(String(r.seed)) ?? bySeed.set(String(r.seed), []).get(String(r.seed))!).push(r);
    const filters = Object.keys(rs[0].correct) as FilterName[];
    const accuracy: MethodSummary['accuracy'] = {};
    for (const f of filters) {
      const perSeed = [...bySeed.values()].map((s) => mean(s.map((r) => (r.correct[f] ? 1 : 0))));
      accuracy[f] = { mean: mean(perSeed), std: std(perSeed) };
    }
    const tokens = rs.reduce((a, r) => a + r.tokens, 0);
    const weighted = rs.filter((r) => Number.isFinite(r.ms_per_token));
    const timedTokens = weighted.reduce((a, r) => a + r.tokens, 0);
    methods.push({
      method: rs[0].method,
      variant: rs[0].variant,
      cK: rs[0].c_k,
      cV: rs[0].c_v,
      items: new Set(rs.map((r) => r.id)).size,
      seeds: bySeed.size,
      accuracy,
      meanTokens: tokens / rs.length,
      meanWords: mean(rs.map((r) => r.words)),
      loopRate: mean(rs.map((r) => (r.loop ? 1 : 0))),
      loopsByLength: lengthBands(rs, meta.maxNewTokens),
      msPerToken: timedTokens ? weighted.reduce((a, r) => a + r.ms_per_token * r.tokens, 0) / timedTokens : NaN,
    });
  }
  const order = ['baseline', 'cot-prompt', 'cache-steering', 'activation-steering'];
  methods.sort((a, b) => order.indexOf(a.method) - order.indexOf(b.method) || (a.cV ?? 0) - (b.cV ?? 0) || (a.cK ?? 0) - (b.cK ?? 0));
  const base = methods.find((m) => m.method === 'baseline');
  const timePerTokenRatio: Record<string, number> = {};
  // A ratio needs both times measured (and the baseline's non-zero).
  if (base) for (const m of methods) if (m !== base && Number.isFinite(m.msPerToken / base.msPerToken)) timePerTokenRatio[label(m)] = m.msPerToken / base.msPerToken;
  return { ...meta, methods, timePerTokenRatio };
}

function lengthBands(rs: GenerationRow[], maxNewTokens: number): LengthBand[] {
  const bands: LengthBand[] = [];
  // The last band takes answers that hit the budget (tokens = maxNewTokens) too, and absorbs a
  // remainder shorter than half a band (512 → …, 300–399, 400–512).
  for (let from = 0; from < Math.max(1, maxNewTokens); from += LENGTH_BAND) {
    let to = Math.min(from + LENGTH_BAND, maxNewTokens);
    if (maxNewTokens - to < LENGTH_BAND / 2) to = maxNewTokens;
    const last = to >= maxNewTokens;
    const inBand = rs.filter((r) => r.tokens >= from && (r.tokens < to || (last && r.tokens >= to)));
    bands.push({ from, to, answers: inBand.length, loops: inBand.filter((r) => r.loop).length });
    if (last) break;
  }
  return bands;
}

export function label(m: Pick<MethodSummary, 'method' | 'variant'>): string {
  return m.variant ? `${m.method} (${m.variant})` : m.method;
}

/** ms/token, or a dash when none was measured. */
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');

const pct = (x: { mean: number; std: number } | undefined, seeds: number) =>
  x === undefined ? '–' : seeds > 1 ? `${(100 * x.mean).toFixed(1)} ± ${(100 * x.std).toFixed(1)}` : (100 * x.mean).toFixed(1);

/** Markdown tables shaped like the paper's Table 1 (accuracy) and Table 2 (length), plus timing. */
export function toMarkdown(s: EvalSummary): string {
  const filters = [...new Set(s.methods.flatMap((m) => Object.keys(m.accuracy)))] as FilterName[];
  const lines = [
    `### ${s.task} — ${s.model}, ${s.decoding}, max ${s.maxNewTokens} new tokens`,
    '',
    `| Method | Items | ${filters.map((f) => `Accuracy % (${f})`).join(' | ')} | Mean tokens | Mean words | Loop rate % | ms/token |`,
    `|---|---:|${filters.map(() => '---:').join('|')}|---:|---:|---:|---:|`,
    ...s.methods.map(
      (m) =>
        `| ${label(m)} | ${m.items} | ${filters.map((f) => pct(m.accuracy[f], m.seeds)).join(' | ')} | ${m.meanTokens.toFixed(1)} | ${m.meanWords.toFixed(1)} | ${(100 * m.loopRate).toFixed(1)} | ${ms(m.msPerToken)} |`,
    ),
  ];
  const bands = s.methods[0]?.loopsByLength ?? [];
  if (bands.length > 1) {
    lines.push(
      '',
      'Loop rate by answer length (answers that loop / answers of that length, generated tokens):',
      '',
      `| Method | ${bands.map((b, i) => (i === bands.length - 1 ? `${b.from}–${b.to}` : `${b.from}–${b.to - 1}`)).join(' | ')} |`,
      `|---|${bands.map(() => '---:').join('|')}|`,
      ...s.methods.map((m) => `| ${label(m)} | ${m.loopsByLength.map((b) => (b.answers ? `${b.loops}/${b.answers}` : '–')).join(' | ')} |`),
    );
  }
  const ratios = Object.entries(s.timePerTokenRatio);
  if (ratios.length) lines.push('', 'Time per token relative to the baseline (same run): ' + ratios.map(([k, v]) => `${k} ${v.toFixed(3)}×`).join(', '));
  if (s.command) lines.push('', 'Command:', '', '```', s.command, '```');
  return lines.join('\n') + '\n';
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A self-contained HTML report (inline CSS and SVG charts, no scripts) the extension can show. */
export function toHtml(summaries: EvalSummary[]): string {
  const bar = (title: string, items: { label: string; value: number }[], fmt: (v: number) => string) => {
    const max = Math.max(...items.map((i) => i.value).filter(Number.isFinite), 1e-9);
    const h = 24 * items.length + 30;
    const rows = items
      .map((it, i) => {
        const w = Number.isFinite(it.value) ? Math.max(1, (it.value / max) * 300) : 0;
        return `<text x="0" y="${30 + i * 24 + 12}" class="l">${esc(it.label)}</text><rect x="230" y="${30 + i * 24}" width="${w.toFixed(1)}" height="16" class="b"/><text x="${(236 + w).toFixed(1)}" y="${30 + i * 24 + 12}" class="v">${esc(fmt(it.value))}</text>`;
      })
      .join('');
    return `<svg width="640" height="${h}" role="img" aria-label="${esc(title)}"><text x="0" y="16" class="t">${esc(title)}</text>${rows}</svg>`;
  };
  const sections = summaries.map((s) => {
    const main = (Object.keys(s.methods[0]?.accuracy ?? {})[0] ?? 'accuracy') as FilterName;
    // Each Markdown table becomes an HTML table, with the text line before it as its caption.
    const blocks: { caption?: string; lines: string[] }[] = [];
    let previous = '';
    for (const l of toMarkdown(s).split('\n')) {
      if (!l.startsWith('|')) {
        if (l.trim()) previous = l.trim();
        continue;
      }
      if (l.startsWith('|---')) continue;
      if (!blocks.length || previous !== '') blocks.push({ caption: blocks.length ? previous : undefined, lines: [] });
      blocks[blocks.length - 1].lines.push(l);
      previous = '';
    }
    const tables = blocks
      .map((b) => {
        const rows = b.lines.map((l, i) => `<tr>${l.split('|').slice(1, -1).map((c) => (i === 0 ? `<th>${esc(c.trim())}</th>` : `<td>${esc(c.trim())}</td>`)).join('')}</tr>`).join('');
        return `${b.caption ? `<p>${esc(b.caption)}</p>` : ''}<table>${rows}</table>`;
      })
      .join('');
    return `<section><h2>${esc(s.task)} — ${esc(s.model)} (${esc(s.decoding)})</h2>${tables}
${bar(`Accuracy (${main}), %`, s.methods.map((m) => ({ label: label(m), value: 100 * (m.accuracy[main]?.mean ?? 0) })), (v) => v.toFixed(1))}
${bar('Mean generated tokens', s.methods.map((m) => ({ label: label(m), value: m.meanTokens })), (v) => v.toFixed(0))}
${bar('Time per token, ms', s.methods.map((m) => ({ label: label(m), value: m.msPerToken })), ms)}
${s.command ? `<p>Command: <code>${esc(s.command)}</code></p>` : ''}</section>`;
  });
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"><title>kvsteer evaluation</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fff}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
.t{font-weight:600;font-size:14px}.l{font-size:12px}.v{font-size:12px}.b{fill:#3b7dd8}</style></head><body><h1>kvsteer evaluation</h1>${sections.join('')}</body></html>\n`;
}
