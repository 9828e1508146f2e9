import { describe, expect, it } from 'vitest';

import {
	barChart,
	escapeXml,
	gridSvg,
	lineChart,
	niceCeiling,
	panelSvg,
	reportChartPanels,
	reportChartSvg,
	svgToPng,
	throughputOfSeries,
	throughputOfTimes,
} from '../../../../core/report/charts';
import { buildReport, type ReportEntry } from '../../../../core/report';
import { T0, iso, series } from '../../status/fixture';

const entry = (over: Partial<ReportEntry>): ReportEntry => ({
	outcome: 'success',
	retries: 0,
	extraCallAttempts: 0,
	inputTokens: 10,
	outputTokens: 2,
	...over,
});

/** PNG width and height from its IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
	return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe('bar chart', () => {
	it('draws one labelled bar per non-zero value, widest for the largest, values formatted', () => {
		const svg = panelSvg(
			barChart({
				title: 'Cost',
				bars: [
					{ label: 'a', value: 2 },
					{ label: 'b', value: 1 },
					{ label: 'zero', value: 0 },
				],
				format: (v) => `$${v}`,
			}),
		);
		expect(
			svg.startsWith("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 480 98' width='100%'"),
		).toBe(true);
		expect(
			[...svg.matchAll(/<rect x='150' y='[\d.]+' width='([\d.]+)'/g)].map((m) => m[1]),
		).toEqual(['222', '111']);
		expect(svg).toContain('>$2<');
		expect(svg).toContain('>$1<');
		expect(svg).not.toContain('>zero<');
	});

	it('says so instead of drawing when there is nothing to draw', () => {
		const svg = panelSvg(barChart({ title: 'Failures', bars: [], empty: 'No failures' }));
		expect(svg).toContain('>No failures<');
		expect(svg).not.toContain("x='150'");
	});

	it('escapes labels and titles and keeps colours to CSS names or hex', () => {
		const svg = panelSvg(
			barChart({
				title: `<script>alert('t')</script>`,
				bars: [{ label: `"><script>x</script>`, value: 1, color: `red' onload='x` }],
			}),
		);
		expect(svg).not.toContain('<script');
		expect(svg).not.toContain('onload');
		expect(svg).toContain('&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;');
		expect(svg).toContain("fill='#3a6ea5'");
		expect(escapeXml(`<&>"'`)).toBe('&lt;&amp;&gt;&quot;&#39;');
	});

	it('cuts a long label so the bar keeps its room', () => {
		const svg = panelSvg(
			barChart({ title: 't', bars: [{ label: 'claude-3-5-haiku-latest', value: 1 }] }),
		);
		expect(svg).toContain('>claude-3-5-haiku-…<');
	});
});

describe('line chart', () => {
	it('puts the first point at the left edge, the last at the right, under a nice top value', () => {
		const panel = lineChart({
			title: 'Throughput',
			unit: 'items/min',
			points: [
				{ t: T0, v: 0 },
				{ t: T0 + 60_000, v: 37 },
				{ t: T0 + 120_000, v: 50 },
			],
		});
		expect(panel.height).toBe(210);
		expect(panel.body).toContain("<polyline points='12,184 240,89.3 468,56'");
		expect(panel.body).toContain('>50 items/min<');
		expect(panel.body).toContain('>10:00<');
		expect(panel.body).toContain('>10:02 UTC<');
	});

	it('needs two points to draw a line', () => {
		const panel = lineChart({ title: 'T', unit: 'x', points: [{ t: T0, v: 3 }] });
		expect(panel.body).toContain('>Not enough points yet<');
		expect(panel.body).not.toContain('polyline');
	});

	it('rounds the axis top to 1, 2 or 5 times a power of ten', () => {
		expect([0, 0.3, 1, 37, 50, 51, 199, 201, 7_500].map(niceCeiling)).toEqual([
			1, 0.5, 1, 50, 50, 100, 200, 500, 10_000,
		]);
	});
});

describe('throughput data', () => {
	it('turns status samples into items per minute between samples, never negative', () => {
		const samples = series(4); // 30 items every 30 s
		samples[3] = { ...samples[3], done: 50 }; // a re-read that went backwards
		expect(throughputOfSeries(samples)).toEqual([
			{ t: Date.parse(iso(30_000)), v: 60 },
			{ t: Date.parse(iso(60_000)), v: 60 },
			{ t: Date.parse(iso(90_000)), v: 0 },
		]);
	});

	it('measures a sample read a second after the last heartbeat together with the next, not as a stop', () => {
		const at = (ms: number, done: number) => ({ ...series(1)[0], at: iso(ms), done });
		expect(throughputOfSeries([at(0, 0), at(10_000, 20), at(11_000, 20)])).toEqual([
			{ t: Date.parse(iso(10_000)), v: 120 },
		]);
		expect(throughputOfSeries([at(0, 0), at(3_000, 5), at(10_000, 20)])).toEqual([
			{ t: Date.parse(iso(10_000)), v: 120 },
		]);
		expect(throughputOfSeries([])).toEqual([]);
	});

	it('counts finish times in about 30 equal buckets across the run, whole buckets only', () => {
		// 120 items, one every 2 s over 238 s: 10 s buckets of 5 items = 30 a minute; the last
		// bucket (230-238 s) is cut short by the run's end and left out.
		const times = Array.from({ length: 120 }, (_, i) => T0 + i * 2000);
		const points = throughputOfTimes(times);
		expect(points).toHaveLength(23);
		expect(points[0]).toEqual({ t: T0 + 10_000, v: 30 });
		expect(points.every((p) => p.v === 30)).toBe(true);
		expect(points[22]).toEqual({ t: T0 + 230_000, v: 30 });
		expect(throughputOfTimes([T0])).toEqual([]);
	});
});

describe('report charts', () => {
	const mini = { 'gpt-4o-mini': { usd: 0.002, answers: 1 } };
	const entries: ReportEntry[] = [
		entry({ model: 'gpt-4o-mini', costUsd: 0.002, completedAt: T0, paid: mini }),
		entry({ model: 'gpt-4o-mini', costUsd: 0.002, completedAt: T0 + 30_000, paid: mini }),
		entry({
			model: 'gpt-4o',
			costUsd: 0.01,
			completedAt: T0 + 60_000,
			paid: { 'gpt-4o': { usd: 0.01, answers: 1 } },
		}),
		entry({
			outcome: 'invalid',
			errorCode: 'schema_violation',
			costUsd: 0.003,
			completedAt: T0 + 60_000,
		}),
		entry({ outcome: 'failed', errorCode: 'server_error', completedAt: T0 + 61_000 }),
	];
	const report = buildReport(entries, { runId: 'run-1', finishedAt: T0 + 61_000 });

	it("draws cost by model as the report's cost table has it", () => {
		const rows = report.costTable!.byModel;
		expect(rows.length).toBeGreaterThan(1);
		const body = reportChartPanels(report, entries)[3].body;
		const labels = [...body.matchAll(/<text x='12' y='[\d.]+' >([^<]+)</g)].map((m) => m[1]);
		expect(labels).toEqual(rows.map((r) => r.model));
		expect(body).toContain('>$0.0100<');
	});

	it('draws outcomes, failures by code, throughput and cost by model', () => {
		const panels = reportChartPanels(report, entries);
		expect(panels.map((p) => p.title)).toEqual([
			'Outcomes',
			'Failures by code',
			'Throughput',
			'Cost by model',
		]);
		expect(panels[3].body).toContain('>$0.0100<');
		expect(panels[2].body).toContain('polyline');
	});

	it('says what a ledger job report cannot draw rather than drawing nothing', () => {
		const panels = reportChartPanels({ ...report, costTable: null });
		expect(panels[2].body).toContain('>The ledger keeps no finish times per item<');
		expect(panels[3].body).toContain('>all models<');
	});

	it('lays the charts out two a row in one document', () => {
		const svg = gridSvg(reportChartPanels(report, entries), 'all');
		expect(svg).toContain("viewBox='0 0 996 ");
		expect(svg.match(/<g transform=/g)).toHaveLength(4);
		expect(svg).toContain("<g transform='translate(504,12)'>");
	});

	it('renders the same SVG as a PNG of the asked width', async () => {
		const svg = reportChartSvg(report, entries);
		const height = Number(/viewBox='0 0 996 ([\d.]+)'/.exec(svg)?.[1]);
		const png = await svgToPng(svg, { width: 996 });
		expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
		expect(pngSize(png)).toEqual({ width: 996, height: Math.round(height) });
		const wide = await svgToPng(svg);
		expect(pngSize(wide).width).toBe(1200);
	});
});
