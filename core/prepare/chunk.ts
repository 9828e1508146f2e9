/** Splitting the chosen items into chunks: by count, by token budget, or by a group field. */
import { stableStringify } from '../hash';
import { getPath, type Json } from '../paths';
import { countTokens } from '../tokens';
import { contentOf } from './content-hash';
import type { ChunkInfo, Chunking } from './types';

export interface Candidate {
	index: number;
	json: Json;
	tokenText?: string;
}

export interface Chunk {
	members: Candidate[];
	extra: Pick<ChunkInfo, 'keys' | 'tokens'>;
}

/** Groups of candidates, each one chunk, in output order. */
export function chunk(
	candidates: Candidate[],
	chunking: Chunking,
	exclude: readonly string[],
): Chunk[] {
	switch (chunking.mode) {
		case 'none':
			return candidates.length === 0 ? [] : [{ members: candidates, extra: {} }];
		case 'count': {
			const out = [];
			for (let i = 0; i < candidates.length; i += chunking.size) {
				const members = candidates.slice(i, i + chunking.size);
				out.push({ members, extra: {} });
			}
			return out;
		}
		case 'tokens': {
			const out: Chunk[] = [];
			let members: Candidate[] = [];
			let tokens = 0;
			for (const c of candidates) {
				const text = c.tokenText ?? stableStringify(contentOf(c.json, [], exclude));
				const t = countTokens(text, chunking.model);
				if (members.length > 0 && tokens + t > chunking.budget) {
					out.push({ members, extra: { tokens } });
					members = [];
					tokens = 0;
				}
				members.push(c);
				tokens += t;
			}
			if (members.length > 0) out.push({ members, extra: { tokens } });
			return out;
		}
		case 'group': {
			const groups = new Map<string, Candidate[]>();
			for (const c of candidates) {
				const raw = getPath(c.json, chunking.field);
				const key =
					raw === undefined || raw === null
						? ''
						: typeof raw === 'object'
							? stableStringify(raw)
							: String(raw);
				let list = groups.get(key);
				if (!list) groups.set(key, (list = []));
				list.push(c);
			}
			const max = chunking.maxItems ?? 0;
			const out: Chunk[] = [];
			let members: Candidate[] = [];
			let keys: string[] = [];
			for (const [key, list] of groups) {
				if (max <= 0) {
					out.push({ members: list, extra: { keys: [key] } });
					continue;
				}
				if (members.length > 0 && members.length + list.length > max) {
					out.push({ members, extra: { keys } });
					members = [];
					keys = [];
				}
				members = members.concat(list);
				keys.push(key);
			}
			if (members.length > 0) out.push({ members, extra: { keys } });
			return out;
		}
	}
}
