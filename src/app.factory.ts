import { Logger, LogLevel as NestLogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import { createApiDocument } from './api-document';
import { AppModule } from './app.module';
import { closeConnectionsWhenDraining } from './common/drain-connections';
import { answerOversizedBodies } from './common/oversized-bodies';
import { parseQueryString } from './common/query-string';
import { DatabaseConnection } from './database/database-connection';
import { connectEventTransports } from './events/event-transports';
import { registerSecurityHeaders } from './security/security-headers';
import { LogLevel, Settings } from './settings/settings';

const LEVELS: NestLogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

function levelsFrom(level: LogLevel): NestLogLevel[] {
  return LEVELS.slice(0, LEVELS.indexOf(level) + 1);
}

/**
 * Builds the application (used by main.ts and by the end-to-end tests alike):
 * HTTP, plus the event transports that the settings configure.
 */
export async function createApp(given: Settings): Promise<NestFastifyApplication> {
  // This application's own settings object: DatabaseModule finds the connection
  // opened below by it (DatabaseConnection.openedWith), so two applications of
  // one process (replicas in a test) never share or swap connections.
  const settings: Settings = { ...given };
  Logger.overrideLogger(levelsFrom(settings.logLevel));
  // Opened (and migrated) before Nest starts, so that an unreachable database is
  // waited for, then reported as one line rather than a provider stack trace.
  const database = await DatabaseConnection.openWhenReachable(settings);
  try {
    const adapter = new FastifyAdapter({
      bodyLimit: settings.bodyLimitBytes,
      // Keeps a duplicate key from letting "__proto__" reach a plain object.
      onProtoPoisoning: 'remove',
      onConstructorPoisoning: 'remove',
      routerOptions: { querystringParser: parseQueryString },
    });
    closeConnectionsWhenDraining(adapter.getInstance());
    answerOversizedBodies(adapter.getInstance(), settings);
    // JSON is the one body the API reads: text/plain gets 415 like any other type.
    adapter.getInstance().removeContentTypeParser('text/plain');
    const app = await NestFactory.create<NestFastifyApplication>(
      AppModule.forRoot(settings),
      adapter,
      {
        logger: levelsFrom(settings.logLevel),
        // Start-up errors reach the caller (main.ts prints one line) instead of exiting here.
        abortOnError: false,
        // JSON only: Nest's form-body parser would read a `curl -d` JSON body
        // (form-encoded by default) as one field named like the whole body.
        bodyParser: false,
      },
    );
    await registerSecurityHeaders(app);
    const document = createApiDocument(app);
    SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json' });
    // Attached, not started: app.startAllMicroservices() starts them (main.ts, tests).
    connectEventTransports(app, settings);
    return app;
  } catch (error) {
    await database.close();
    throw error;
  }
}
