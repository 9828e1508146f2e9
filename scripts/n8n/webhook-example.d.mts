export declare const WEBHOOK_EXAMPLE_PATH: string;
export declare const WEBHOOK_EXAMPLE_RECORDS: ReadonlyArray<
	Readonly<{ ticketId: string; subject: string; body: string }>
>;
export declare function webhookExampleCurl(baseUrl: string): string;
