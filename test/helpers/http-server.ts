// An application's own http.Server in a test: its real port, and closing it for good, upgraded sockets
// included, so that a server the bus was attached to never keeps a test waiting.
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export const portOf = (server: http.Server): number => (server.address() as AddressInfo).port;

/**
 * Every socket the server accepted, so that closing it also ends upgrade requests nobody answered (an
 * http.Server is allowHalfOpen, and closeAllConnections() does not see sockets handed to 'upgrade').
 */
export function trackSockets(server: http.Server): Set<Duplex> {
  const sockets = new Set<Duplex>();
  server.on('connection', (socket: Duplex) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/** Closes `server` and destroys every socket it accepted (from trackSockets); resolves once it is closed. */
export async function closeServer(server: http.Server, sockets: Set<Duplex>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  for (const s of sockets) s.destroy();
  await closed;
}
