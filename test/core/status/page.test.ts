import { describe, expect, it } from 'vitest';

import { renderStatusPage } from '../../../core/status/page';
import { iso, runningStatus } from './fixture';

/** The text a reader sees in the element marked data-field=`name`. */
function field(html: string, name: string): string | undefined {
	return new RegExp(`data-field="${name}">([^<]*)<`).exec(html)?.[1];
}

describe('status page', () => {
	it('shows progress, ETA, success rate, cost, throughput and the last progress time', () => {
		const html = renderStatusPage(runningStatus());
		expect({
			done: field(html, 'done'),
			total: field(html, 'total'),
			percent: field(html, 'percent'),
			eta: field(html, 'eta'),
			successRate: field(html, 'successRate'),
			cost: field(html, 'cost'),
			throughputNow: field(html, 'throughputNow'),
			latency: field(html, 'latency'),
			msPerItem: field(html, 'msPerItem'),
			state: field(html, 'state'),
			lastProgressAt: field(html, 'lastProgressAt'),
		}).toEqual({
			done: '600',
			total: '2,000',
			percent: '30.0 %',
			eta: '23m 20s',
			successRate: '90.0 %',
			cost: '$0.6000',
			throughputNow: '60 / min',
			latency: '850 ms / 2,100 ms',
			msPerItem: '1,000 ms / 1,000 ms',
			state: 'running',
			lastProgressAt: '2026-12-06 10:10:00 UTC (5s ago)',
		});
		expect(html).toContain('aria-valuenow="600"');
		expect(html).toContain(
			'<div class="ok" style="width:27.00%"></div><div class="fail" style="width:3.00%"></div>',
		);
	});

	it('draws the throughput-over-time and failures-by-code charts inline', () => {
		const html = renderStatusPage(runningStatus());
		expect(html.match(/<svg /g)).toHaveLength(2);
		expect(html).toContain("aria-label='Throughput'");
		expect(html).toContain("aria-label='Failures by code'");
		expect(html).toContain('>schema_violation<');
		expect(html).toContain('>rate_limited<');
		// 30 items every 30 s: the line's top label.
		expect(html).toContain('>100 items/min<');
	});

	it('lists the participants with their worker and last heartbeat', () => {
		const html = renderStatusPage(runningStatus());
		expect(html).toContain('<h2>Participants (2)</h2>');
		expect(html).toContain(
			'<tr><td>101</td><td>worker-a:4242</td><td>LLM Batch Call</td><td>running</td><td>350</td><td>2026-12-06 10:10:00 UTC (5s ago)</td></tr>',
		);
	});

	it('is self-contained: no external asset, one inline script and nothing loaded', () => {
		const html = renderStatusPage(runningStatus());
		expect(html).not.toMatch(/\b(src|href)=/);
		expect(html).not.toMatch(/url\(|@import/);
		expect(html.match(/<script/g)).toHaveLength(1);
		expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
		expect(html).toContain('<main id="status" data-state="running" data-refresh="10">');
		expect(html).toContain('<noscript><meta http-equiv="refresh" content="10"></noscript>');
	});

	it('escapes every value that comes from the job, its workers and its error codes', () => {
		const evil = '<img src=x onerror=alert(1)>';
		const html = renderStatusPage(
			runningStatus({
				job: `job"${evil}`,
				failedByCode: { [evil]: 3 },
				participants: [{ ...runningStatus().participants[0], worker: evil, execution: `'${evil}` }],
			}),
		);
		expect(html).not.toContain('<img');
		expect(html).not.toContain('"job"');
		expect(html).toContain('job&quot;&lt;img src=x onerror=alert(1)&gt;');
		expect(html.match(/<script/g)).toHaveLength(1);
	});

	it('stops refreshing once the job has finished, and says the ETA is done', () => {
		const html = renderStatusPage(
			runningStatus({ state: 'finished', done: 2000, pending: 0, processing: 0, etaMs: 0 }),
		);
		expect(html).not.toContain('<script');
		expect(html).not.toContain('http-equiv="refresh"');
		expect(html).toContain('data-refresh="0"');
		expect(field(html, 'eta')).toBe('done');
	});

	it('refreshes at the asked interval, or never when it is 0', () => {
		expect(renderStatusPage(runningStatus(), { refreshSeconds: 5 })).toContain('data-refresh="5"');
		const still = renderStatusPage(runningStatus(), { refreshSeconds: 0 });
		expect(still).not.toContain('<script');
		expect(still).toContain('data-refresh="0"');
	});

	it('says since when a stalled job has not moved', () => {
		const html = renderStatusPage(runningStatus({ state: 'stalled', checkedAt: iso(1_500_000) }));
		expect(html).toContain(
			'<p class="banner">No progress since 2026-12-06 10:10:00 UTC (15m 0s ago).</p>',
		);
		expect(field(html, 'state')).toBe('stalled');
	});

	it('renders a job the ledger does not know, and keeps looking for it', () => {
		const html = renderStatusPage({
			...runningStatus(),
			job: 'nope',
			state: 'not_found',
			total: 0,
			done: 0,
			succeeded: 0,
			failed: 0,
			pending: 0,
			processing: 0,
			failedByCode: {},
			successRate: null,
			etaMs: null,
			startedAt: null,
			lastProgressAt: null,
			participants: [],
			series: [],
		});
		expect(html).toContain('The ledger knows no job named “nope” (yet)');
		expect(field(html, 'percent')).toBe('0.0 %');
		expect(field(html, 'successRate')).toBe('–');
		expect(field(html, 'eta')).toBe('–');
		expect(html).toContain('Not enough heartbeats yet');
		expect(html).toContain('No failures');
		expect(html).toContain('<script');
	});
});
