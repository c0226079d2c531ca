/** An HTTP-level error with its status, code and optional parameter, turned into the error object. */
export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly parameter?: string) {
    super(message);
    this.name = 'HttpError';
  }
}
