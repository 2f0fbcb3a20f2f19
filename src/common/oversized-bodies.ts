import type { FastifyInstance } from 'fastify';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { PayloadTooLargeError } from './errors';

export interface BodyLimits {
  /** BODY_LIMIT_BYTES: the largest body the service parses. */
  readonly bodyLimitBytes: number;
  /** BODY_DISCARD_LIMIT_BYTES: up to this many bytes of a larger body are read and dropped. */
  readonly bodyDiscardLimitBytes: number;
}

/**
 * Answers 413 to a body whose declared length passes the limit before a
 * byte of it is parsed, and lets the connection read the rest and drop it.
 * Fastify's own answer closes the connection at once: a client still
 * uploading (fetch/undici does) then sees a reset instead of the status.
 * Node reads a request's remaining bytes after its answer (up to its
 * content-length, no further), so the client finishes sending and reads the
 * 413; past the discard limit the connection closes as before (a client
 * still sending may see a reset). A chunked body has no length to judge:
 * Fastify's parser stops it at the limit and closes.
 */
export function answerOversizedBodies(fastify: FastifyInstance, limits: BodyLimits): void {
  const tooLarge = (headers: IncomingHttpHeaders) =>
    Number(headers['content-length']) > limits.bodyLimitBytes;
  // A client that asks first (curl does past 1 MB) gets the 413 instead of a
  // 100 Continue, and never sends the body.
  fastify.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (!tooLarge(req.headers)) res.writeContinue();
    fastify.server.emit('request', req, res);
  });
  fastify.addHook('onRequest', async (request, reply) => {
    if (!tooLarge(request.headers)) return;
    const declared = Number(request.headers['content-length']);
    // A body that was never sent (no 100 Continue) or that is too long to read through.
    if (request.headers.expect || declared > limits.bodyDiscardLimitBytes)
      void reply.header('connection', 'close');
    throw new PayloadTooLargeError(
      `Request body is ${declared} bytes, above the limit of ${limits.bodyLimitBytes} bytes ` +
        '(BODY_LIMIT_BYTES): send the points in several requests',
    );
  });
}
