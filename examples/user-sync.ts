// A consumer: a separate service that keeps its own user table in sync with `user.*` events from
// the user service's event bus. Its durable consumer remembers what it acked, so a sync service that was
// stopped catches up on everything it missed when it starts again.
//   npm run example:user-sync     EVENTBUS_URL (default ws://127.0.0.1:8080/ws, the user service's), PORT (default 5000),
//                                 SYNC_DB (default data/user-sync.db)
// For the same sync with exactly-once effects, in the broker's process, see user-sync-embedded.ts.
import Database from 'better-sqlite3';
import http from 'node:http';
import { connect } from '../src/client/index.js';
import { listen } from './listen.js';

const db = new Database(process.env['SYNC_DB'] ?? 'data/user-sync.db');
db.pragma('journal_mode = WAL');
db.exec('CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, username TEXT NOT NULL, synced_seq INTEGER NOT NULL)');
// An upsert: a message delivered again (after a crash between this write and its ack) changes nothing.
const upsert = db.prepare('INSERT INTO users (id, username, synced_seq) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET username = excluded.username, synced_seq = excluded.synced_seq');

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(db.prepare('SELECT id, username FROM users ORDER BY id').all()));
});
const port = await listen(server, Number(process.env['PORT'] ?? 5000), 'user sync');

const client = await connect(process.env['EVENTBUS_URL'] ?? 'ws://127.0.0.1:8080/ws', { maxRetries: 1000 });
const events = await client.subscribe('user.*', { consumer: 'user-sync' });
console.log(`user sync listening on http://127.0.0.1:${port}`);

const stop = (): void => {
  client.close();
  server.close();
  db.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

for await (const message of events) {
  console.log(`Received message: [${message.topic}] ${message.payload} (seq ${message.seq})`);
  if (message.topic === 'user.created') {
    const user = message.json<{ id: number; username: string }>();
    upsert.run(user.id, user.username, message.seq);
    console.log(`User created: ${JSON.stringify(user)}`);
  }
  message.ack();
}
