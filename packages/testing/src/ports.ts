import { createServer } from "node:net";

/**
 * Asks the kernel for a free loopback port. The port is released before
 * nats-server binds it, so another process could take it in between; the
 * server start retries with fresh ports when that happens.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === "object") resolve(addr.port);
        else reject(new Error("could not read the port of a loopback listener"));
      });
    });
  });
}
