/**
 * OpenAI's Flex processing as the sandbox plays it: a request sent with `service_tier: "flex"`
 * is billed apart (stats `byTier.flex`: the batch price, half the standard one), is slower
 * (`latencyFactor` times the latency), and a share of them gets 429 `resource_unavailable` —
 * no capacity right now, not billed, answered at once. The answer echoes the tier that served
 * it, as OpenAI's `service_tier` does.
 */
import type { ParsedCall } from './protocol';

export interface FlexSettings {
	/** Share of flex requests answered 429 `resource_unavailable` (not billed). @default 0.2 */
	unavailable: number;
	/** Flex latency = this times the latency drawn for the request. @default 3 */
	latencyFactor: number;
}

export const DEFAULT_FLEX: Readonly<FlexSettings> = { unavailable: 0.2, latencyFactor: 3 };

export const RESOURCE_UNAVAILABLE_MESSAGE =
	'Resource Unavailable: there is not enough flex processing capacity for this request right now. Retry later, or send it with the default service tier.';

/** The tier an OpenAI request is served at (Anthropic requests carry none: `default`). */
export function servedTier(call: ParsedCall): 'default' | 'flex' | 'priority' {
	return call.serviceTier === 'flex' || call.serviceTier === 'priority'
		? call.serviceTier
		: 'default';
}

/** Whether this flex request finds no capacity; `roll` is its own uniform draw. */
export function flexUnavailable(flex: FlexSettings, call: ParsedCall, roll: number): boolean {
	return servedTier(call) === 'flex' && roll < flex.unavailable;
}

/** The request's latency at its tier. */
export function tierLatency(flex: FlexSettings, call: ParsedCall, latencyMs: number): number {
	return servedTier(call) === 'flex' ? latencyMs * flex.latencyFactor : latencyMs;
}

export function checkFlex(flex: FlexSettings): void {
	if (!(flex.unavailable >= 0 && flex.unavailable <= 1))
		throw new Error(
			`Expected \`flex.unavailable\` to be a probability in [0, 1], got ${flex.unavailable}`,
		);
	if (!(flex.latencyFactor >= 0))
		throw new Error(`Expected \`flex.latencyFactor\` to be >= 0, got ${flex.latencyFactor}`);
}
