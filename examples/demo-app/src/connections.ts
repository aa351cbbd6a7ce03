/**
 * TCP connections, from both ends: the server's open connections (app_active_connections),
 * and the connections fault, a misbehaving client in the same process that opens keep-alive
 * connections to the app, makes one request on each and then holds them idle.
 */
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';

export class ConnectionTracker {
  private readonly sockets = new Set<Socket>();
  private server: Server | null = null;

  attach(server: Server): void {
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
  }

  /** Open connections to the server (destroyed ones excluded even before their close event). */
  get open(): number {
    let n = 0;
    for (const s of this.sockets) if (!s.destroyed) n++;
    return n;
  }

  /** Closes the connections with no request in progress; returns how many it closed. */
  closeIdle(): number {
    if (!this.server) return 0;
    const before = [...this.sockets].filter((s) => !s.destroyed);
    this.server.closeIdleConnections();
    return before.filter((s) => s.destroyed).length;
  }
}

export interface Target {
  host: string;
  port: number;
}

const OPEN_TIMEOUT_MS = 10_000;

export class ConnectionHolder {
  private readonly held = new Set<Socket>();

  get count(): number {
    return this.held.size;
  }

  /** Holds exactly `count` connections: opens the missing ones (50 at a time) or releases the extra. */
  async holdExactly(target: Target, count: number): Promise<number> {
    for (const s of [...this.held].slice(count)) this.drop(s);
    while (this.held.size < count) {
      const batch = Math.min(50, count - this.held.size);
      const opened = await Promise.all(Array.from({ length: batch }, () => this.open(target)));
      const alive = opened.filter((s) => !s.destroyed);
      if (alive.length === 0) throw new Error('the server closed every new connection at once');
      for (const s of alive) this.held.add(s);
    }
    return this.held.size;
  }

  releaseAll(): number {
    const n = this.held.size;
    for (const s of [...this.held]) this.drop(s);
    return n;
  }

  private drop(s: Socket): void {
    this.held.delete(s);
    s.destroy();
  }

  /** One keep-alive connection that has completed a GET /healthz and now sits idle. */
  private open(target: Target): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: target.host, port: target.port });
      let received = '';
      const timer = setTimeout(() => fail(new Error(`connection to ${target.host}:${target.port} not established in time`)), OPEN_TIMEOUT_MS);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', fail);
      socket.once('connect', () => {
        socket.write(`GET /healthz HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nConnection: keep-alive\r\n\r\n`);
      });
      const onData = (d: Buffer) => {
        received += d.toString('latin1');
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(received.slice(0, end));
        if (length && received.length < end + 4 + Number(length[1])) return;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('error', fail);
        // Held from now on: idle, closed by the server or released by the fault's owner.
        socket.on('error', () => socket.destroy());
        socket.on('data', () => {});
        socket.once('close', () => this.held.delete(socket));
        resolve(socket);
      };
      socket.on('data', onData);
    });
  }
}
