/**
 * Charts as standalone inline SVG: no script, no external asset (font, stylesheet, image),
 * every text escaped, sized by a viewBox so the picture scales to a phone's width. The same
 * markup is the status page's chart and, rasterised (./png.ts), Batch Report's attachment, so
 * the two pictures cannot drift apart.
 */

/** One bar of a bar chart: a category and its value. */
export interface Bar {
	label: string;
	value: number;
	/** CSS colour; the chart's default when absent. */
	color?: string;
}

export interface BarChart {
	title: string;
	bars: readonly Bar[];
	/** How a value is written beside its bar. @default String(value) */
	format?: (value: number) => string;
	/** Said instead of bars when there are none (or all are 0). @default 'Nothing yet' */
	empty?: string;
}

/** One point of a line chart: a time (ms since the epoch) and a value. */
export interface Point {
	t: number;
	v: number;
}

export interface LineChart {
	title: string;
	points: readonly Point[];
	/** Unit written after the top value of the y axis, e.g. 'items/min'. */
	unit: string;
	empty?: string;
}

/** The width of every chart's viewBox: one panel of a phone screen at 1:1. */
export const CHART_WIDTH = 480;
const FONT = "font-family='DejaVu Sans, Helvetica, Arial, sans-serif'";
const INK = '#1f2933';
const MUTED = '#61707f';
const GRID = '#d9dee4';
const DEFAULT_BAR = '#3a6ea5';
const TITLE_H = 30;
const ROW_H = 26;

const ESCAPES: Record<string, string> = {
	'&': '&amp;',
	'<': '&lt;',
	'>': '&gt;',
	'"': '&quot;',
	"'": '&#39;',
};

/** Text safe inside an element or a quoted attribute of HTML and SVG. */
export function escapeXml(text: string): string {
	return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A colour from a caller: a CSS hex or a plain name, else the default (nothing can break out). */
function safeColor(color: string | undefined, fallback: string): string {
	return color !== undefined && /^(#[0-9a-f]{3,8}|[a-z]+)$/i.test(color) ? color : fallback;
}

/** Numbers in the markup: short and never `NaN` / `Infinity`. */
function n(x: number): string {
	return Number.isFinite(x) ? String(Math.round(x * 10) / 10) : '0';
}

function text(x: number, y: number, body: string, attrs = ''): string {
	return `<text x='${n(x)}' y='${n(y)}' ${attrs}>${escapeXml(body)}</text>`;
}

/** A chart before it becomes a document: its height and its markup at the origin. */
export interface Panel {
	title: string;
	height: number;
	body: string;
}

function frame(title: string, height: number, body: string): Panel {
	return {
		title,
		height,
		body: [
			`<rect width='${CHART_WIDTH}' height='${n(height)}' fill='#ffffff'/>`,
			text(12, 20, title, "font-size='15' font-weight='bold'"),
			body,
		].join(''),
	};
}

function svgOpen(width: number, height: number, label: string): string {
	return `<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 ${n(width)} ${n(height)}' width='100%' role='img' aria-label='${escapeXml(label)}' ${FONT} font-size='13' fill='${INK}'>`;
}

/** One chart as a standalone SVG document. */
export function panelSvg(panel: Panel): string {
	return `${svgOpen(CHART_WIDTH, panel.height, panel.title)}${panel.body}</svg>`;
}

/**
 * Several charts in one SVG document, `columns` side by side (a row as tall as its tallest
 * chart): one picture for a chat or mail preview rather than one attachment per chart.
 */
export function gridSvg(panels: readonly Panel[], label: string, columns = 2): string {
	const cols = Math.max(1, Math.min(columns, panels.length));
	const gap = 12;
	const parts: string[] = [];
	let y = gap;
	for (let row = 0; row * cols < panels.length; row++) {
		const inRow = panels.slice(row * cols, row * cols + cols);
		inRow.forEach((p, i) =>
			parts.push(
				`<g transform='translate(${gap + i * (CHART_WIDTH + gap)},${n(y)})'>${p.body}</g>`,
			),
		);
		y += Math.max(...inRow.map((p) => p.height)) + gap;
	}
	const width = gap + cols * (CHART_WIDTH + gap);
	return `${svgOpen(width, y, label)}<rect width='${n(width)}' height='${n(y)}' fill='#eef1f4'/>${parts.join('')}</svg>`;
}

/** Labels longer than this are cut with an ellipsis so the bars keep their room. */
const LABEL_CHARS = 18;

function shortLabel(label: string): string {
	return label.length > LABEL_CHARS ? `${label.slice(0, LABEL_CHARS - 1)}…` : label;
}

/** Horizontal bars (long category names stay readable on a narrow screen), largest value first is up to the caller. */
export function barChart(chart: BarChart): Panel {
	const format = chart.format ?? String;
	const bars = chart.bars.filter((b) => Number.isFinite(b.value) && b.value > 0);
	if (bars.length === 0)
		return frame(
			chart.title,
			TITLE_H + 36,
			text(12, TITLE_H + 20, chart.empty ?? 'Nothing yet', `fill='${MUTED}'`),
		);
	const max = Math.max(...bars.map((b) => b.value));
	const labelW = 150;
	const valueW = 84;
	const barMax = CHART_WIDTH - labelW - valueW - 24;
	const rows = bars.map((b, i) => {
		const y = TITLE_H + 8 + i * ROW_H;
		const w = Math.max(2, (b.value / max) * barMax);
		return [
			text(12, y + 15, shortLabel(b.label)),
			`<rect x='${labelW}' y='${n(y + 3)}' width='${n(w)}' height='${ROW_H - 8}' rx='2' fill='${safeColor(b.color, DEFAULT_BAR)}'/>`,
			text(labelW + w + 6, y + 15, format(b.value), `fill='${MUTED}'`),
		].join('');
	});
	return frame(chart.title, TITLE_H + 16 + bars.length * ROW_H, rows.join(''));
}

function clock(t: number): string {
	return new Date(t).toISOString().slice(11, 16);
}

/** A "nice" axis top: 1, 2 or 5 times a power of ten, at or above `max`. */
export function niceCeiling(max: number): number {
	if (!(max > 0)) return 1;
	const power = 10 ** Math.floor(Math.log10(max));
	const step = [1, 2, 5, 10].find((s) => s * power >= max) ?? 10;
	return step * power;
}

/** A value over time as a filled area under a line, times in UTC (HH:MM) on the x axis. */
export function lineChart(chart: LineChart): Panel {
	const points = chart.points.filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v));
	const height = 210;
	if (points.length < 2)
		return frame(
			chart.title,
			TITLE_H + 36,
			text(12, TITLE_H + 20, chart.empty ?? 'Not enough points yet', `fill='${MUTED}'`),
		);
	const left = 12;
	const right = CHART_WIDTH - 12;
	const top = TITLE_H + 26;
	const bottom = height - 26;
	const t0 = points[0].t;
	const t1 = points[points.length - 1].t;
	const span = Math.max(1, t1 - t0);
	const vMax = niceCeiling(Math.max(...points.map((p) => p.v)));
	const x = (t: number) => left + ((t - t0) / span) * (right - left);
	const y = (v: number) => bottom - (Math.max(0, v) / vMax) * (bottom - top);
	const line = points.map((p) => `${n(x(p.t))},${n(y(p.v))}`).join(' ');
	const area = `${n(x(t0))},${n(bottom)} ${line} ${n(x(t1))},${n(bottom)}`;
	const grid = [0.5, 1]
		.map(
			(f) =>
				`<line x1='${left}' x2='${right}' y1='${n(y(vMax * f))}' y2='${n(y(vMax * f))}' stroke='${GRID}'/>`,
		)
		.join('');
	return frame(
		chart.title,
		height,
		[
			grid,
			`<line x1='${left}' x2='${right}' y1='${n(bottom)}' y2='${n(bottom)}' stroke='${MUTED}'/>`,
			`<polygon points='${area}' fill='${DEFAULT_BAR}' fill-opacity='0.18'/>`,
			`<polyline points='${line}' fill='none' stroke='${DEFAULT_BAR}' stroke-width='2' stroke-linejoin='round'/>`,
			text(left, top - 6, `${formatNumber(vMax)} ${chart.unit}`, `fill='${MUTED}' font-size='12'`),
			text(left, height - 8, clock(t0), `fill='${MUTED}' font-size='12'`),
			text(
				right,
				height - 8,
				`${clock(t1)} UTC`,
				`fill='${MUTED}' font-size='12' text-anchor='end'`,
			),
		].join(''),
	);
}

/** 1234.5 -> '1,234.5'; at most one decimal. */
export function formatNumber(value: number): string {
	return value.toLocaleString('en-US', { maximumFractionDigits: value < 10 ? 1 : 0 });
}
