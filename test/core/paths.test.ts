import { describe, expect, it } from 'vitest';

import { deletePath, getPath, setPath } from '../../core/paths';

describe('paths', () => {
	it('reads nested values and undefined for missing steps', () => {
		expect(getPath({ a: { b: { c: 1 } } }, 'a.b.c')).toBe(1);
		expect(getPath({ a: 1 }, 'a.b')).toBeUndefined();
		expect(getPath({ a: [{ b: 2 }] }, 'a.0.b')).toBe(2);
		expect(getPath(null, 'a')).toBeUndefined();
	});

	it('sets by copying, never mutating', () => {
		const input = { a: { b: 1, keep: true }, other: 1 };
		const out = setPath(input, 'a.b', 2);
		expect(out).toEqual({ a: { b: 2, keep: true }, other: 1 });
		expect(input).toEqual({ a: { b: 1, keep: true }, other: 1 });
		expect(setPath({ a: 'text' }, 'a.b', 1)).toEqual({ a: { b: 1 } });
	});

	it('deletes by copying', () => {
		const input = { a: { b: 1, c: 2 } };
		expect(deletePath(input, 'a.b')).toEqual({ a: { c: 2 } });
		expect(input).toEqual({ a: { b: 1, c: 2 } });
		expect(deletePath(input, 'x.y')).toBe(input);
	});
});
