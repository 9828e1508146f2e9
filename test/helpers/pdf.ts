/**
 * Small, valid PDFs for tests and benches: one text page per entry of `pages`, the text in
 * uncompressed content streams (or Flate-compressed with `compress`), a real cross-reference
 * table, and an /Encrypt entry when asked (enough for a reader to refuse it as encrypted).
 */
import { deflateSync } from 'node:zlib';

export interface PdfOptions {
	compress?: boolean;
	encrypted?: boolean;
}

const esc = (s: string) => s.replace(/[\\()]/g, (c) => `\\${c}`);

/** A PDF whose page i shows the lines of `pages[i]`. */
export function makePdf(pages: string[][], opts: PdfOptions = {}): Buffer {
	const objects: Buffer[] = [];
	const add = (body: Buffer | string) => {
		objects.push(typeof body === 'string' ? Buffer.from(body, 'latin1') : body);
		return objects.length;
	};
	const catalog = add('');
	const tree = add('');
	const font = add('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
	const kids: number[] = [];
	for (const lines of pages) {
		const ops = ['BT', '/F1 11 Tf', '14 TL', '50 750 Td'];
		for (const line of lines) ops.push(`(${esc(line)}) Tj T*`);
		ops.push('ET');
		let data = Buffer.from(ops.join('\n'), 'latin1');
		let filter = '';
		if (opts.compress) {
			data = deflateSync(data);
			filter = ' /Filter /FlateDecode';
		}
		const content = add(
			Buffer.concat([
				Buffer.from(`<< /Length ${data.length}${filter} >>\nstream\n`, 'latin1'),
				data,
				Buffer.from('\nendstream', 'latin1'),
			]),
		);
		kids.push(
			add(
				`<< /Type /Page /Parent ${tree} 0 R /MediaBox [0 0 612 792] /Contents ${content} 0 R /Resources << /Font << /F1 ${font} 0 R >> >> >>`,
			),
		);
	}
	objects[catalog - 1] = Buffer.from(`<< /Type /Catalog /Pages ${tree} 0 R >>`);
	objects[tree - 1] = Buffer.from(
		`<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`,
	);
	const encrypt = opts.encrypted
		? add('<< /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 /O <00> /U <00> >>')
		: 0;
	const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
	let offset = parts[0].length;
	const offsets: number[] = [];
	objects.forEach((body, i) => {
		offsets.push(offset);
		const obj = Buffer.concat([
			Buffer.from(`${i + 1} 0 obj\n`, 'latin1'),
			body,
			Buffer.from('\nendobj\n', 'latin1'),
		]);
		parts.push(obj);
		offset += obj.length;
	});
	const xref = [
		'xref',
		`0 ${objects.length + 1}`,
		'0000000000 65535 f ',
		...offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n `),
		'trailer',
		`<< /Size ${objects.length + 1} /Root ${catalog} 0 R${encrypt ? ` /Encrypt ${encrypt} 0 R /ID [<01> <01>]` : ''} >>`,
		'startxref',
		String(offset),
		'%%EOF',
		'',
	].join('\n');
	parts.push(Buffer.from(xref, 'latin1'));
	return Buffer.concat(parts);
}

/** An invoice of 1–3 pages with machine-readable fields (deterministic from `n`). */
export function invoicePdf(n: number, opts: PdfOptions = {}): { pdf: Buffer; invoice: Invoice } {
	const lines = 1 + (n % 5);
	const items = Array.from({ length: lines }, (_, i) => ({
		description: `Item ${n}-${i + 1}`,
		amount: 10 * (i + 1) + (n % 7),
	}));
	const net = items.reduce((s, i) => s + i.amount, 0);
	const vat = Math.round(net * 20) / 100;
	const invoice: Invoice = {
		supplier: `Supplier ${n % 13} Ltd`,
		invoiceNumber: `INV-${String(n).padStart(5, '0')}`,
		date: '2026-11-0' + (1 + (n % 9)),
		dueDate: '2026-12-0' + (1 + (n % 9)),
		vat,
		total: Math.round((net + vat) * 100) / 100,
		lineItems: items,
	};
	const pageCount = 1 + (n % 3);
	const pages: string[][] = [
		[
			`Invoice number: ${invoice.invoiceNumber}`,
			`Supplier: ${invoice.supplier}`,
			`Date: ${invoice.date}`,
			`Due date: ${invoice.dueDate}`,
			...items.map((i) => `Line: ${i.description} ${i.amount.toFixed(2)}`),
			`VAT: ${vat.toFixed(2)}`,
			`Total: ${invoice.total.toFixed(2)}`,
		],
	];
	for (let p = 1; p < pageCount; p++)
		pages.push([
			`Terms and conditions, page ${p + 1} of ${invoice.invoiceNumber}.`,
			'Payment within 30 days.',
		]);
	return { pdf: makePdf(pages, opts), invoice };
}

export interface Invoice {
	supplier: string;
	invoiceNumber: string;
	date: string;
	dueDate: string;
	vat: number;
	total: number;
	lineItems: Array<{ description: string; amount: number }>;
}

/** A PNG of the given size (an empty pixel stream: headers are all the readers here need), with an optional tEXt chunk. */
export function makePng(width: number, height: number, text?: string, padTo = 0): Buffer {
	const chunk = (type: string, data: Buffer) => {
		const len = Buffer.alloc(4);
		len.writeUInt32BE(data.length);
		return Buffer.concat([len, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]);
	};
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(width, 0);
	ihdr.writeUInt32BE(height, 4);
	ihdr[8] = 8;
	ihdr[9] = 2;
	const parts = [
		Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
		chunk('IHDR', ihdr),
		...(text ? [chunk('tEXt', Buffer.from(`Comment\0${text}`, 'latin1'))] : []),
	];
	const size = parts.reduce((s, p) => s + p.length, 0) + 12;
	if (padTo > size) parts.push(chunk('IDAT', Buffer.alloc(padTo - size - 12)));
	parts.push(chunk('IEND', Buffer.alloc(0)));
	return Buffer.concat(parts);
}

/** The JSON Schema of an invoice record (example 07's). */
export const INVOICE_SCHEMA = {
	type: 'object',
	properties: {
		supplier: { type: 'string' },
		invoiceNumber: { type: 'string' },
		date: { type: 'string' },
		dueDate: { type: 'string' },
		vat: { type: 'number' },
		total: { type: 'number' },
		lineItems: {
			type: 'array',
			items: {
				type: 'object',
				properties: { description: { type: 'string' }, amount: { type: 'number' } },
				required: ['description', 'amount'],
			},
		},
	},
	required: ['supplier', 'invoiceNumber', 'date', 'dueDate', 'vat', 'total', 'lineItems'],
};

/** A tiny PDF as n8n binary data (in the item, base64), named invoice-<i>.pdf: enough for tests that follow a file, not read one. */
export function tinyPdfBinary(i: number) {
	const body = `%PDF-1.4\n% invoice ${i}\n%%EOF\n`;
	return {
		data: Buffer.from(body).toString('base64'),
		mimeType: 'application/pdf',
		fileName: `invoice-${i}.pdf`,
		fileExtension: 'pdf',
		fileSize: `${body.length} B`,
	};
}
