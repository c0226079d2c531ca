/** An HTTP-level error with its status, code, optional parameter and headers, turned into the error object. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly parameter?: string, readonly headers?: Readonly<Record<string, string>>) {
    super(message);
    this.name = 'HttpError';
  }
}
