import type { IExecuteFunctions } from 'n8n-workflow';
import { z } from 'zod';

import type { RoutePolicy } from '../../core/route';
import { ERROR_CODES, type ErrorCode } from '../../core/types';
import { configError } from '../shared/config';
import { defaultsOf, optionDefaultsOf, withDefaults } from '../shared/defaults';
import { properties } from './properties';

const code = z.enum(ERROR_CODES);

const schema = z
	.object({
		maxRetries: z
			.number()
			.int('Max Retries must be a whole number')
			.min(0, 'Max Retries cannot be negative'),
		retryCodes: z.array(code),
		filteredCodes: z.array(code),
		options: z.object({
			baseDelayMs: z.number().min(0),
			maxDelayMs: z.number().min(0),
			errorField: z.string().trim().min(1, 'Error Field is empty'),
			retryField: z.string().trim().min(1, 'Retry Field is empty'),
		}),
	})
	.superRefine((v, ctx) => {
		const both = v.retryCodes.filter((c) => v.filteredCodes.includes(c));
		if (both.length > 0)
			ctx.addIssue({
				code: 'custom',
				path: ['filteredCodes'],
				message: `${both.join(', ')} cannot be both retried and filtered`,
			});
		if (v.options.maxDelayMs < v.options.baseDelayMs)
			ctx.addIssue({
				code: 'custom',
				path: ['options', 'maxDelayMs'],
				message: 'Max Wait is below Base Wait',
			});
	});

const DEFAULTS = defaultsOf(properties);
const OPTION_DEFAULTS = optionDefaultsOf(properties, 'options');

export function readPolicy(ctx: IExecuteFunctions): RoutePolicy {
	const p = (n: string) => ctx.getNodeParameter(n, 0, DEFAULTS[n]);
	const parsed = schema.safeParse({
		maxRetries: p('maxRetries'),
		retryCodes: p('retryCodes'),
		filteredCodes: p('filteredCodes'),
		options: withDefaults(OPTION_DEFAULTS, p('options')),
	});
	if (!parsed.success) {
		throw configError(ctx.getNode(), parsed.error);
	}
	const v = parsed.data;
	return {
		maxRetries: v.maxRetries,
		retryCodes: new Set<ErrorCode>(v.retryCodes),
		filteredCodes: new Set<ErrorCode>(v.filteredCodes),
		baseDelayMs: v.options.baseDelayMs,
		maxDelayMs: v.options.maxDelayMs,
		errorField: v.options.errorField,
		retryField: v.options.retryField,
	};
}
