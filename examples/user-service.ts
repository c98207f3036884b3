// A producer: an Express service with the event bus embedded in the same HTTP server.
// `POST /api/users {"id":1,"username":"alice"}` stores the user and publishes `user.created`; the bus's
// WebSocket API answers at ws://127.0.0.1:8080/ws for other services (see user-sync.ts).
//   npm run example:user-service        PORT (default 8080), EVENTBUS_DB (default data/user-service.db)
import express from 'express';
import http from 'node:http';
import { EventBusError, openEventBus } from '../src/embed/index.js';
import { listen } from './listen.js';

interface User {
  id: number;
  username: string;
}

const bus = await openEventBus({ dbPath: process.env['EVENTBUS_DB'] ?? 'data/user-service.db' }).catch((e: unknown) => {
  console.error(e instanceof EventBusError ? e.message : e);
  process.exit(1);
});
// The service's own table lives in the bus's database file; it could as well be anywhere else.
bus.sqlite.exec('CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, username TEXT NOT NULL)');
const insertUser = bus.sqlite.prepare('INSERT INTO users (id, username) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET username = excluded.username');

const app = express();
app.use(express.json());
app.post('/api/users', async (req, res) => {
  const user = req.body as Partial<User>;
  if (typeof user.id !== 'number' || typeof user.username !== 'string') {
    res.status(400).json({ error: 'expected {"id": <number>, "username": <string>}' });
    return;
  }
  insertUser.run(user.id, user.username);
  try {
    // Idempotent per user id: a retried request publishes the event once.
    const published = await bus.publish({ topic: 'user.created', payload: JSON.stringify({ id: user.id, username: user.username }), messageId: `user-${user.id}` });
    res.status(201).json({ user: { id: user.id, username: user.username }, seq: published.seq });
  } catch (e) {
    if (!(e instanceof EventBusError)) throw e;
    res.status(503).json({ error: e.message, code: e.code });
  }
});
app.get('/api/users', (_req, res) => {
  res.json(bus.sqlite.prepare('SELECT id, username FROM users ORDER BY id').all());
});

const server = http.createServer(app);
bus.attach(server, { path: '/ws' });
const port = await listen(server, Number(process.env['PORT'] ?? 8080), 'user service');
console.log(`user service listening on http://127.0.0.1:${port} (event bus at ws://127.0.0.1:${port}/ws)`);

const stop = async (): Promise<void> => {
  server.close();
  server.closeAllConnections();
  await bus.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
