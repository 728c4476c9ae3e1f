/** The few responses the proxy writes itself: refusals and upstream failures, always closing. */
import { http } from '../builtins.ts';
import { errors, type ErrorCode } from '../errors.ts';

const cache = new Map<ErrorCode, Buffer>();

export function errorResponse(code: ErrorCode): Buffer {
  let bytes = cache.get(code);
  if (bytes === undefined) {
    const { status, message } = errors[code];
    const body = `${message}\n`;
    bytes = Buffer.from(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\nX-Drain-Proxy-Error: ${code}\r\n\r\n${body}`,
      'latin1',
    );
    cache.set(code, bytes);
  }
  return bytes;
}
