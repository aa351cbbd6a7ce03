/**
 * The demo app on a real HTTP server: listens, starts the load generator, stops gracefully.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDemoApp, type DemoApp, type DemoAppOptions } from './app.js';

export interface StartOptions extends DemoAppOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Load generator rate in requests per second; 0 (the default here) for none. */
  load?: number;
  /** How long stop() waits for requests in flight before closing their connections (default 5 s). */
  graceMs?: number;
}

export interface RunningDemo {
  demo: DemoApp;
  server: Server;
  url: string;
  stop(): Promise<void>;
}

export async function startDemoApp(opts: StartOptions = {}): Promise<RunningDemo> {
  const demo = createDemoApp(opts);
  const server = createServer(demo.app);
  // Idle keep-alive connections are not timed out (as behind a load balancer that closes them
  // itself), so connections a client leaves open accumulate until something closes them.
  server.keepAliveTimeout = 0;
  demo.attach(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  demo.start({ load: opts.load ?? 0 });

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= new Promise<void>((resolve) => {
      demo.close();
      const force = setTimeout(() => server.closeAllConnections(), opts.graceMs ?? 5000);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    });
    return stopping;
  };
  return { demo, server, url, stop };
}
