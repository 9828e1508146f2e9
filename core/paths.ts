/**
 * Dotted field paths (`llm.output`, `customer.id`) into plain JSON objects, as the node
 * parameters name them. A hand-written 40 lines instead of lodash.get/set: core keeps no
 * runtime dependency it does not need, and we want copy-on-write semantics (never mutate
 * an input item, which n8n may still hold for another branch).
 */

export type Json = Record<string, unknown>;

export function splitPath(path: string): string[] {
	return path
		.split('.')
		.map((part) => part.trim())
		.filter((part) => part.length > 0);
}

/** The value at `path`, or undefined when any step is missing. */
export function getPath(obj: unknown, path: string): unknown {
	let current: unknown = obj;
	for (const part of splitPath(path)) {
		if (current === null || typeof current !== 'object') return undefined;
		current = (current as Json)[part];
	}
	return current;
}

/** A copy of `obj` with `value` at `path`; objects along the path are copied, not mutated. */
export function setPath(obj: Json, path: string, value: unknown): Json {
	const parts = splitPath(path);
	if (parts.length === 0) return obj;
	const [head, ...rest] = parts;
	const copy: Json = { ...obj };
	if (rest.length === 0) {
		copy[head] = value;
	} else {
		const child = copy[head];
		const base =
			child !== null && typeof child === 'object' && !Array.isArray(child) ? (child as Json) : {};
		copy[head] = setPath(base, rest.join('.'), value);
	}
	return copy;
}

/** A copy of `obj` without the field at `path` (a no-op copy when it is absent). */
export function deletePath(obj: Json, path: string): Json {
	const parts = splitPath(path);
	if (parts.length === 0) return obj;
	const [head, ...rest] = parts;
	if (!Object.hasOwn(obj, head)) return obj;
	const copy: Json = { ...obj };
	if (rest.length === 0) {
		delete copy[head];
	} else {
		const child = copy[head];
		if (child === null || typeof child !== 'object' || Array.isArray(child)) return obj;
		copy[head] = deletePath(child as Json, rest.join('.'));
	}
	return copy;
}
