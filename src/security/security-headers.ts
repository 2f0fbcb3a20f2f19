import helmet from '@fastify/helmet';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';

/**
 * Security headers on every answer (@fastify/helmet). The content security
 * policy allows what the Swagger UI at /api/docs needs (its own scripts and
 * styles, inline styles, data: images) and nothing from elsewhere; the JSON
 * answers need none of it.
 */
export async function registerSecurityHeaders(app: NestFastifyApplication): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: [`'self'`],
        scriptSrc: [`'self'`],
        styleSrc: [`'self'`, `'unsafe-inline'`],
        imgSrc: [`'self'`, 'data:'],
        connectSrc: [`'self'`],
        frameAncestors: [`'none'`],
        objectSrc: [`'none'`],
        baseUri: [`'self'`],
        formAction: [`'self'`],
        // Served over plain HTTP too (behind a TLS proxy or not): upgrading the
        // docs' own assets to https would break the Swagger UI.
        upgradeInsecureRequests: null,
      },
    },
  });
}
