/**
 * A job's live status as one self-contained HTML page (Webhook → Batch Ledger Job Status →
 * Respond to Webhook): progress, ETA, success rate, cost so far, throughput over time,
 * failures by code, who takes part and when the job last moved. No external asset (the
 * charts are inline SVG, the style inline), every value escaped, laid out for a phone first.
 *
 * Refreshing: a small inline script fetches the page's own URL again every few seconds and
 * swaps the status block for the new one. Chosen over a JSON endpoint and client-side
 * rendering because the page then has one renderer (this module), not a second copy in the
 * browser, and the webhook serves one kind of answer; chosen over a meta refresh because a
 * reload flashes the page and loses the scroll position on a phone. The fetch works inside
 * n8n's sandbox for webhook HTML (an opaque origin): n8n's webhook answers with the request's
 * origin as the allowed one. Without JavaScript a meta refresh in <noscript> reloads instead.
 * Polling stops once the job has finished.
 */
import { failuresChart, money, throughputChart, throughputOfSeries } from '../report/charts/data';
import { escapeXml, panelSvg } from '../report/charts/svg';
import { formatCount, formatDuration, formatRate, formatTime } from './format';
import type { JobParticipant, JobStatus } from './types';

export interface StatusPageOptions {
	/** Seconds between refreshes while the job is not finished; 0: no refresh. @default 10 */
	readonly refreshSeconds?: number;
}

export const DEFAULT_REFRESH_SECONDS = 10;

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;background:#eef1f4}
main{max-width:1000px;margin:0 auto;padding:12px}
header{display:flex;flex-wrap:wrap;align-items:center;gap:8px;margin-bottom:8px}
h1{font-size:1.25rem;margin:0;word-break:break-all}
h2{font-size:1rem;margin:16px 0 6px}
.state{padding:2px 10px;border-radius:12px;font-size:.85rem;font-weight:600;color:#fff;background:#61707f}
.state-running{background:#2f8f4e}.state-stalled{background:#c0392b}.state-finished{background:#3a6ea5}
.banner{background:#fdecea;border-left:4px solid #c0392b;padding:8px 12px;margin:8px 0}
.progress{display:flex;height:22px;background:#d9dee4;border-radius:6px;overflow:hidden}
.progress .ok{background:#2f8f4e}.progress .fail{background:#c0392b}
.big{font-size:1.1rem;margin:8px 0}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px;margin:12px 0}
.tile{background:#fff;border-radius:6px;padding:8px 10px}
.tile dt{font-size:.8rem;color:#61707f}.tile dd{margin:0;font-size:1.15rem;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:8px}
.charts svg{display:block;border-radius:6px}
.table{overflow-x:auto;background:#fff;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eef1f4;white-space:nowrap}
footer,#refresh-note{color:#61707f;font-size:.85rem;margin:12px 0}
#refresh-note{max-width:1000px;margin:0 auto;padding:0 12px 12px}
`;

/** Fetches this page again and swaps the status block: no reload, one renderer. */
const SCRIPT = `(function(){
var main=document.getElementById('status'),note=document.getElementById('refresh-note');
var every=Number(main.getAttribute('data-refresh'))*1000;
if(!(every>0))return;
function tick(){
if(main.getAttribute('data-state')==='finished'){note.textContent='The job has finished; no more updates.';return;}
fetch(location.href,{cache:'no-store'}).then(function(r){
if(!r.ok)throw new Error('HTTP '+r.status);return r.text();
}).then(function(html){
var doc=new DOMParser().parseFromString(html,'text/html'),next=doc.getElementById('status');
if(!next)throw new Error('the answer has no job status');
main.innerHTML=next.innerHTML;main.setAttribute('data-state',next.getAttribute('data-state'));
document.title=doc.title;note.textContent='Updated '+new Date().toLocaleTimeString();
}).catch(function(e){note.textContent='Update failed ('+e.message+'); trying again';
}).then(function(){setTimeout(tick,every);});
}
setTimeout(tick,every);
})();`;

function pctOf(part: number, whole: number): number {
	return whole > 0 ? Math.min(100, (part / whole) * 100) : 0;
}

function ago(iso: string | null, checkedAt: string): string {
	if (iso === null) return '';
	const ms = Date.parse(checkedAt) - Date.parse(iso);
	return Number.isFinite(ms) ? ` (${formatDuration(ms)} ago)` : '';
}

function tile(label: string, value: string, field: string): string {
	return `<div class="tile"><dt>${escapeXml(label)}</dt><dd data-field="${field}">${escapeXml(value)}</dd></div>`;
}

function progress(s: JobStatus): string {
	const ok = pctOf(s.succeeded, s.total);
	const fail = pctOf(s.failed, s.total);
	return [
		`<div class="progress" role="progressbar" aria-label="Progress" aria-valuemin="0" aria-valuemax="${s.total}" aria-valuenow="${s.done}">`,
		`<div class="ok" style="width:${ok.toFixed(2)}%"></div><div class="fail" style="width:${fail.toFixed(2)}%"></div></div>`,
		`<p class="big"><strong data-field="done">${formatCount(s.done)}</strong> of <span data-field="total">${formatCount(s.total)}</span> done`,
		` (<span data-field="percent">${pctOf(s.done, s.total).toFixed(1)} %</span>)`,
		` · ${formatCount(s.processing)} processing · ${formatCount(s.pending)} pending</p>`,
	].join('');
}

function perItem(ms: number | null): string {
	return ms === null ? '–' : `${formatCount(ms)} ms`;
}

function tiles(s: JobStatus): string {
	const eta = s.state === 'finished' ? 'done' : formatDuration(s.etaMs);
	return [
		'<dl class="tiles">',
		tile('ETA', eta, 'eta'),
		tile('Success rate', formatRate(s.successRate), 'successRate'),
		tile('Cost so far', money(s.costUsd), 'cost'),
		tile('Throughput now', `${formatCount(s.throughput.nowPerMinute)} / min`, 'throughputNow'),
		tile(
			'Throughput overall',
			`${formatCount(s.throughput.overallPerMinute)} / min`,
			'throughputOverall',
		),
		tile('Failed', formatCount(s.failed), 'failed'),
		tile('Retries', formatCount(s.retries), 'retries'),
		tile(
			'Latency p50 / p95',
			`${perItem(s.latencyMs.p50)} / ${perItem(s.latencyMs.p95)}`,
			'latency',
		),
		tile(
			'Time per item: start / now',
			`${perItem(s.msPerItem.atStart)} / ${perItem(s.msPerItem.now)}`,
			'msPerItem',
		),
		tile(
			'Tokens in / out',
			`${formatCount(s.inputTokens)} / ${formatCount(s.outputTokens)}`,
			'tokens',
		),
		'</dl>',
	].join('');
}

function charts(s: JobStatus): string {
	const throughput = throughputChart(throughputOfSeries(s.series), 'Not enough heartbeats yet');
	return `<section class="charts">${panelSvg(throughput)}${panelSvg(failuresChart(s.failedByCode))}</section>`;
}

function participantRow(p: JobParticipant, checkedAt: string): string {
	const cells = [
		p.execution,
		p.worker,
		p.node,
		p.state,
		formatCount(p.done),
		`${formatTime(p.lastBeatAt)}${ago(p.lastBeatAt, checkedAt)}`,
	];
	return `<tr>${cells.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`;
}

function participants(s: JobStatus): string {
	if (s.participants.length === 0) return '<h2>Participants</h2><p>None has reported yet.</p>';
	const head = ['Execution', 'Worker', 'Node', 'State', 'Done', 'Last heartbeat'];
	return [
		`<h2>Participants (${s.participants.length})</h2><div class="table"><table>`,
		`<thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>`,
		...s.participants.map((p) => participantRow(p, s.checkedAt)),
		'</tbody></table></div>',
	].join('');
}

function banner(s: JobStatus): string {
	if (s.state === 'stalled')
		return `<p class="banner">No progress since ${escapeXml(formatTime(s.lastProgressAt ?? s.startedAt))}${escapeXml(ago(s.lastProgressAt ?? s.startedAt, s.checkedAt))}.</p>`;
	if (s.state === 'not_found')
		return `<p class="banner">The ledger knows no job named “${escapeXml(s.job)}” (yet): check the job name; this page keeps looking.</p>`;
	return '';
}

function footer(s: JobStatus): string {
	return [
		'<footer>',
		`Last progress: <span data-field="lastProgressAt">${escapeXml(formatTime(s.lastProgressAt))}${escapeXml(ago(s.lastProgressAt, s.checkedAt))}</span>`,
		` · Started: ${escapeXml(formatTime(s.startedAt))}`,
		` · Checked: <span data-field="checkedAt">${escapeXml(formatTime(s.checkedAt))}</span>`,
		'</footer>',
	].join('');
}

/** The block the page's script swaps on every refresh. */
function statusBlock(s: JobStatus): string {
	return [
		`<header><h1>Job <code>${escapeXml(s.job)}</code></h1><span class="state state-${escapeXml(s.state)}" data-field="state">${escapeXml(s.state.replace('_', ' '))}</span></header>`,
		banner(s),
		progress(s),
		tiles(s),
		charts(s),
		participants(s),
		footer(s),
	].join('');
}

export function pageTitle(s: JobStatus): string {
	const pct = s.total > 0 ? ` · ${pctOf(s.done, s.total).toFixed(0)} %` : '';
	return `${s.job}${pct} · ${s.state.replace('_', ' ')} · LLM Batch job status`;
}

/** The whole page for one reading of the job's status. */
export function renderStatusPage(status: JobStatus, opts: StatusPageOptions = {}): string {
	const refresh = Math.max(0, Math.round(opts.refreshSeconds ?? DEFAULT_REFRESH_SECONDS));
	const live = refresh > 0 && status.state !== 'finished';
	return [
		'<!doctype html><html lang="en"><head><meta charset="utf-8">',
		'<meta name="viewport" content="width=device-width, initial-scale=1">',
		`<title>${escapeXml(pageTitle(status))}</title>`,
		live ? `<noscript><meta http-equiv="refresh" content="${refresh}"></noscript>` : '',
		`<style>${STYLE}</style></head><body>`,
		`<main id="status" data-state="${escapeXml(status.state)}" data-refresh="${live ? refresh : 0}">`,
		statusBlock(status),
		'</main><p id="refresh-note" aria-live="polite"></p>',
		live ? `<script>${SCRIPT}</script>` : '',
		'</body></html>',
	].join('');
}
