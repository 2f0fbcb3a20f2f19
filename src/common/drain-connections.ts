import type { FastifyInstance } from 'fastify';

/**
 * During a drain (app.close() on SIGTERM), the answer to a request still in
 * flight closes its connection. Node's server.close() only reaps keep-alive
 * connections that are idle when it is called; one that becomes idle later
 * would hold the close open for the keep-alive timeout (72 s), past the
 * shutdown timeout, and the process would exit 1 instead of 0.
 */
export function closeConnectionsWhenDraining(fastify: FastifyInstance): void {
  let draining = false;
  fastify.addHook('preClose', (done) => {
    draining = true;
    done();
  });
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close');
    done(null, payload);
  });
}
