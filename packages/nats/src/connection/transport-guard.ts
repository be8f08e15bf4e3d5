import type { NatsConnection } from "@nats-io/transport-node";

interface GuardableTransport {
  socket?: { writable?: boolean };
  _send?: (frame: Uint8Array) => Promise<void>;
  __cozebusGuarded?: boolean;
}

/**
 * Works around a crash in @nats-io/transport-node 3.4: when the server goes
 * away, the transport's 'close' handler removes every socket listener
 * (including 'error'), and a flush already queued as a microtask then writes
 * to the ended socket. Node reports that write as an 'error' event nobody
 * listens to, which is an uncaught exception: the whole process dies on a
 * server restart under load (seen in our restart tests). Writes to a socket
 * that is no longer writable are dropped instead; they were going nowhere,
 * and the reconnect logic resends what matters (JetStream publishes) or
 * reports it (core publishes fail with NotConnectedError meanwhile).
 *
 * It patches the one transport object of one connection (never a prototype),
 * and does nothing if the client's internals look different.
 */
export function guardTransport(nc: NatsConnection): void {
  const transport = (nc as unknown as { protocol?: { transport?: GuardableTransport } }).protocol?.transport;
  if (transport === undefined || transport.__cozebusGuarded || typeof transport._send !== "function") return;
  const send = transport._send.bind(transport);
  transport._send = (frame: Uint8Array): Promise<void> => (transport.socket !== undefined && transport.socket.writable === false ? Promise.resolve() : send(frame));
  transport.__cozebusGuarded = true;
}
