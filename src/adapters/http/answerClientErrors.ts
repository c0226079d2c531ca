import { maxHeaderSize, STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { SECURITY_HEADERS } from './securityHeaders';

/**
 * Answers what Node's HTTP parser refuses before any route sees it (a request line and headers over
 * `maxHeaderSize`, bytes that are not HTTP, a request that took too long to arrive) with the API's
 * JSON error object, instead of Node's empty 431 or 400, and closes the connection.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // The client is gone, or an earlier answer on this connection is half written (as Node's own handler checks): nothing to say.
    const inFlight = (socket as Socket & { _httpMessage?: { _headerSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || inFlight?._headerSent) {
      socket.destroy();
      return;
    }
    const { status, code, message } = answerFor(error.code, (server as Server & { maxHeaderSize?: number }).maxHeaderSize ?? maxHeaderSize);
    const body = JSON.stringify({ error: { code, message } });
    const headers = {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(body)),
      Connection: 'close',
      ...SECURITY_HEADERS,
    };
    const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status]}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
    socket.end(`${head}\r\n\r\n${body}`);
  });
}

function answerFor(code: string | undefined, limitBytes: number): { status: number; code: string; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'request_too_large', message: `the request's URL and headers are larger than ${limitBytes} bytes; ask for less (a shorter query string)` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'the request did not arrive in time' };
    default:
      return { status: 400, code: 'bad_request', message: 'the request is not valid HTTP' };
  }
}
