// What TLS adds to a front-end's server (EVENTBUS_TLS_CERT / EVENTBUS_TLS_KEY): its options, and bounds on the
// handshakes, which come before anything the front-end itself sees. A handshake must finish within the line
// timeout, as a line must (a client that opens a connection and never finishes its handshake would otherwise
// hold it for Node's default two minutes), and no more than EVENTBUS_MAX_CONNECTIONS may be under way at once.
// Once connected, a client may not renegotiate (TLS 1.2): each renegotiation is a full handshake the server
// pays for, as often as the client likes, so the first attempt closes the connection.
import type net from 'node:net';
import type tls from 'node:tls';
import type { Logger } from '../logger.js';
import type { TlsCredentials } from '../tls-files.js';
import { LogThrottle } from '../util/log-throttle.js';

// Refused renegotiations are logged at most once a second, with a count of those not logged since.
const RENEGOTIATION_LOG_MS = 1000;

export function tlsServerOptions(credentials: TlsCredentials, handshakeTimeoutMs: number): tls.TlsOptions {
  return { cert: credentials.cert, key: credentials.key, ciphers: credentials.ciphers, handshakeTimeout: handshakeTimeoutMs };
}

/**
 * The event that hands over a connection ready to be served: `secureConnection` once the handshake is done
 * under TLS, else `connection`.
 */
export const servedEvent = (isTls: boolean): 'secureConnection' | 'connection' => (isTls ? 'secureConnection' : 'connection');

/**
 * Past `maxHandshakes` connections still in their handshake, a new one is cut at once: nothing can be said
 * to a client before its handshake, so it gets no reason, only the close.
 */
export function boundHandshakes(server: tls.Server, maxHandshakes: number, log: Logger): void {
  let accepted = 0;
  let secured = 0;
  server.on('connection', (socket: net.Socket) => {
    if (accepted - secured >= maxHandshakes) return void socket.destroy();
    accepted++;
    socket.once('close', () => accepted--);
  });
  const renegotiations = new LogThrottle(RENEGOTIATION_LOG_MS);
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    secured++;
    socket.once('close', () => secured--);
    // Node otherwise allows three renegotiations per ten minutes and, past them, only emits an error on a
    // socket that goes on being served. Disabled, the first one emits ERR_TLS_RENEGOTIATION_DISABLED as
    // the client's new ClientHello comes in, and the socket is cut then.
    socket.disableRenegotiation();
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ERR_TLS_RENEGOTIATION_DISABLED') return;
      const remote = `${socket.remoteAddress}:${socket.remotePort}`;
      renegotiations.maybeWrite(Date.now(), (heldBack) => {
        log.warn('TLS renegotiation refused; connection closed', { remote, ...(heldBack > 0 ? { more_since_last: heldBack } : {}) });
      });
      socket.destroy();
    });
  });
  // A plain-text client, a scanner, a client that does not trust the certificate: theirs to fix, not ours. A
  // tls.Server leaves the socket of a failed handshake open (a handshake timeout included) to whoever listens.
  server.on('tlsClientError', (e: Error, socket: tls.TLSSocket) => {
    log.debug('TLS handshake failed', { remote: `${socket.remoteAddress}:${socket.remotePort}`, error: e.message });
    socket.destroy();
  });
}
