// The user sync as an embedded consumer with transactional consume: the broker runs in this process, its
// WebSocket API takes the user service's events (or anyone's), and each `user.created` is applied to the
// users table inside the same SQLite transaction that records the consumer's ack. Both commit or neither
// does, so a crash at any point neither loses an event nor applies one twice (exactly-once effects).
//   npm run example:user-sync-embedded     PORT (default 8081), EVENTBUS_DB (default data/user-sync-embedded.db)
import http from 'node:http';
import { EventBusError, openEventBus } from '../src/embed/index.js';
import { listen } from './listen.js';

const bus = await openEventBus({ dbPath: process.env['EVENTBUS_DB'] ?? 'data/user-sync-embedded.db' }).catch((e: unknown) => {
  console.error(e instanceof EventBusError ? e.message : e);
  process.exit(1);
});
// A plain INSERT on purpose: applying an event twice would fail here, and it never does.
bus.sqlite.exec('CREATE TABLE IF NOT EXISTS synced_users (id INTEGER PRIMARY KEY, username TEXT NOT NULL, seq INTEGER NOT NULL UNIQUE)');

const consumer = await bus.consume({ pattern: 'user.*', consumer: 'user-sync-embedded' }, (message, tx) => {
  if (message.topic !== 'user.created') return;
  const user = JSON.parse(message.payload) as { id: number; username: string };
  tx.prepare('INSERT INTO synced_users (id, username, seq) VALUES (?, ?, ?)').run(user.id, user.username, message.seq);
  console.log(`User created: ${JSON.stringify(user)} (seq ${message.seq})`);
});

const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(bus.sqlite.prepare('SELECT id, username FROM synced_users ORDER BY id').all()));
});
bus.attach(server, { path: '/ws' });
const port = await listen(server, Number(process.env['PORT'] ?? 8081), 'user sync (embedded)');
console.log(`user sync (embedded) listening on http://127.0.0.1:${port} (event bus at ws://127.0.0.1:${port}/ws)`);

const stop = async (): Promise<void> => {
  await consumer.close();
  server.close();
  server.closeAllConnections();
  await bus.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
