/** The alert rules: which thresholds a report crosses. */
import { money, pct, round } from './format';
import { REJECTED_CODES } from './outcome';
import type { Alert, AlertThresholds, Report } from './types';

type Totals = Omit<Report, 'alerts' | 'markdown'>;

function errorShareAlerts(report: Totals, maxErrorShare: number): Alert[] {
	const processed = report.items - report.outcomes.rejected;
	if (processed <= 0) return [];
	const alerts: Alert[] = [];
	for (const [code, n] of Object.entries(report.byErrorCode)) {
		if (REJECTED_CODES.has(code)) continue;
		const share = n / processed;
		if (share > maxErrorShare) {
			alerts.push({
				rule: 'maxErrorShare',
				threshold: maxErrorShare,
				actual: round(share, 4),
				errorCode: code,
				message: `${code} hit ${pct(n, processed)} of processed items (limit ${pct(maxErrorShare, 1)})`,
			});
		}
	}
	return alerts;
}

export function checkAlerts(report: Totals, t: AlertThresholds): Alert[] {
	const alerts: Alert[] = [];
	if (report.items > 0 && report.outcomes.success === 0) {
		// Every record rejected leaves the success rate undefined, so no threshold could fire.
		alerts.push({
			rule: 'noSuccess',
			threshold: 1,
			actual: 0,
			message: `No item succeeded (0 of ${report.items})`,
		});
	}
	if (
		t.minSuccessRate !== undefined &&
		report.successRate !== null &&
		report.successRate < t.minSuccessRate
	) {
		alerts.push({
			rule: 'minSuccessRate',
			threshold: t.minSuccessRate,
			actual: report.successRate,
			message: `Success rate ${pct(report.successRate, 1)} is below ${pct(t.minSuccessRate, 1)}`,
		});
	}
	if (t.maxErrorShare !== undefined) alerts.push(...errorShareAlerts(report, t.maxErrorShare));
	if (t.maxCostUsd !== undefined && report.costUsd > t.maxCostUsd) {
		alerts.push({
			rule: 'maxCostUsd',
			threshold: t.maxCostUsd,
			actual: report.costUsd,
			message: `Cost ${money(report.costUsd)} is above ${money(t.maxCostUsd)}`,
		});
	}
	return alerts;
}
