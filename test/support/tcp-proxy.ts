import { AddressInfo, connect, createServer, Server, Socket } from 'node:net';

/** A byte-for-byte TCP relay on 127.0.0.1 that can be cut and restored on the same port. */
export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private frozen = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<number> {
    const server = createServer((client) => {
      if (this.frozen) {
        // Accepted but never answered, like a host behind a dropped route.
        this.sockets.add(client);
        client.on('error', () => client.destroy());
        client.on('close', () => this.sockets.delete(client));
        client.pause();
        return;
      }
      const upstream = connect(this.targetPort, this.targetHost);
      const closeBoth = () => {
        client.destroy();
        upstream.destroy();
      };
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', closeBoth);
        socket.on('close', () => {
          this.sockets.delete(socket);
          closeBoth();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this.port;
  }

  /** Stops accepting and destroys every open connection: the database is gone. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Keeps every connection open but forwards nothing: the database stops answering. */
  freeze(): void {
    this.frozen = true;
    for (const socket of this.sockets) {
      socket.unpipe();
      socket.pause();
    }
  }

  /** Cuts every connection (frozen ones included) and forwards new ones again. */
  cutAndResume(): void {
    this.frozen = false;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  get openConnections(): number {
    return this.sockets.size;
  }
}
