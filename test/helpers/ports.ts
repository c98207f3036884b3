// Ports for servers a test stops and starts again on the same port (a client reconnecting to the same address).
// A port 0 bind takes one of the kernel's ephemeral range, so while the server is down any other test's port-0
// bind (the suite runs files side by side) may take it, and the restart fails with EADDRINUSE. A port below
// that range is never handed out that way.
import net from 'node:net';

// Below Linux's default ephemeral range (32768–60999), above the ports services commonly use.
const FROM = 20_000;
const TO = 32_000;

/** A port free on 127.0.0.1 now, outside the ephemeral range. */
export async function restartablePort(): Promise<number> {
  for (;;) {
    const port = FROM + Math.floor(Math.random() * (TO - FROM));
    if (await isFree(port)) return port;
  }
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}
