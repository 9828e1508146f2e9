/**
 * SVG charts to PNG, for Batch Report's attachment (Slack and mail clients preview PNG, not
 * SVG).
 *
 * Why resvg (its WebAssembly build) rather than a PNG encoder plus a hand-made rasteriser and
 * bitmap font: the PNG is drawn from the very SVG the status page shows, so there is one
 * chart definition and one look, with anti-aliased shapes and real text; it is pure
 * WebAssembly (no native module, nothing to compile on the n8n host) and well kept. The cost
 * is size: 2.4 MB of WebAssembly and one 0.7 MB font (DejaVu Sans: WebAssembly sees no system
 * fonts), both files beside the bundle that load on the first chart only, never at node load.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { initWasm, Resvg } from '@resvg/resvg-wasm';

// One list of the renderer's files, read here and by the build (scripts/bundle.mjs), which
// copies them beside the bundle.
import assets from './assets.json';

type Asset = keyof typeof assets.files;

/** The shipped copy beside the bundle, else the package's (sources and tests). */
function asset(which: Asset): Buffer {
	const { file, source } = assets.files[which];
	try {
		return readFileSync(path.join(__dirname, assets.dir, file));
	} catch {
		return readFileSync(require.resolve(source));
	}
}

let ready: Promise<Uint8Array> | undefined;

/** Loads the renderer once per process; the font buffer is what every render reuses. */
function renderer(): Promise<Uint8Array> {
	ready ??= (async () => {
		await initWasm(asset('wasm'));
		return new Uint8Array(asset('font'));
	})().catch((e: unknown) => {
		ready = undefined;
		throw e;
	});
	return ready;
}

export interface PngOptions {
	/** Pixel width of the picture; the height follows the SVG's aspect ratio. @default 1200 */
	readonly width?: number;
}

/** One SVG document (no external references) as PNG bytes. */
export async function svgToPng(svg: string, options: PngOptions = {}): Promise<Buffer> {
	const font = await renderer();
	const resvg = new Resvg(svg, {
		fitTo: { mode: 'width', value: options.width ?? 1200 },
		font: { fontBuffers: [font], defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
		background: '#ffffff',
	});
	try {
		const image = resvg.render();
		const png = Buffer.from(image.asPng());
		image.free();
		return png;
	} finally {
		resvg.free();
	}
}
