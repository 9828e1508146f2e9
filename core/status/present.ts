/**
 * What Batch Ledger's Job Status emits for one reading: the status itself, plus the
 * watchdog's alerts when any rule is set, plus the status page when the HTML format is asked
 * for (a Respond to Webhook node answers with `html`).
 */
import { renderStatusPage } from './page';
import type { JobStatus } from './types';
import { evaluateWatchdog, type WatchdogAlert, type WatchdogRules } from './watchdog';

export interface PresentOptions {
	/** @default 'json' */
	readonly format?: 'json' | 'html';
	/** The page's refresh interval (HTML only). */
	readonly refreshSeconds?: number;
	/** Watchdog rules; none set: no `alerts` field. */
	readonly rules?: WatchdogRules;
	/** ms since the epoch, for how long a stalled job has been still. */
	readonly now: number;
}

export type PresentedStatus = JobStatus & { alerts?: WatchdogAlert[]; html?: string };

function anyRule(rules: WatchdogRules | undefined): rules is WatchdogRules {
	return (
		rules !== undefined &&
		(rules.minSuccessRate !== undefined ||
			rules.slowdownFactor !== undefined ||
			rules.stalled === true)
	);
}

export function presentJobStatus(status: JobStatus, opts: PresentOptions): PresentedStatus {
	const out: PresentedStatus = { ...status };
	if (anyRule(opts.rules)) out.alerts = evaluateWatchdog(status, opts.rules, opts.now);
	if (opts.format === 'html')
		out.html = renderStatusPage(status, { refreshSeconds: opts.refreshSeconds });
	return out;
}
