// What the examples share: listening on 127.0.0.1, and one line instead of a stack trace when the port is
// taken (by a broker on its default ports, say).
import type http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on 127.0.0.1:`port` (0: any free port) and resolves with the real port; exits 1 if it cannot. */
export function listen(server: http.Server, port: number, name: string, setting = 'PORT'): Promise<number> {
  return new Promise((resolve) => {
    server.once('error', (e) => {
      console.error(`${name}: cannot listen on 127.0.0.1:${port}: ${e.message} (set ${setting} to another port)`);
      process.exit(1);
    });
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}
