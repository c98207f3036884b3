// A standalone example: the broker, a publisher and a `chat.*` subscriber in one process.
//   npm run example:chat          (on a free port unless EVENTBUS_HTTP_PORT says; EVENTBUS_DB sets the file)
// In your own project, import from 'eventbus-broker' and 'eventbus-broker/server' instead of ../src.
import { connect } from '../src/client/index.js';
import { EventBusError, openEventBus } from '../src/embed/index.js';
import { listen } from './listen.js';
import http from 'node:http';

const IDLE_TIMEOUT_MS = 3000;

const bus = await openEventBus({ dbPath: process.env['EVENTBUS_DB'] ?? 'data/chat-example.db' }).catch((e: unknown) => {
  console.error(e instanceof EventBusError ? e.message : e);
  process.exit(1);
});
const server = http.createServer();
bus.attach(server, { path: '/ws' });
const url = `ws://127.0.0.1:${await listen(server, Number(process.env['EVENTBUS_HTTP_PORT'] ?? 0), 'chat', 'EVENTBUS_HTTP_PORT')}/ws`;
console.log(`Event bus at ${url}`);

const subscriber = await connect(url);
const chat = await subscriber.subscribe('chat.*', { consumer: 'chat-example' });
const publisher = await connect(url);

await publisher.publish('chat.user1', 'Hello from User1!');
await publisher.publish('chat.user1', "How's it going?");
await publisher.publishBatch(
  [
    { topic: 'chat.user1', payload: 'Batch message 1' },
    { topic: 'chat.user1', payload: 'Batch message 2' },
  ],
  { ttl: 3600 },
);

// Read until the chat has been quiet for a while.
for (;;) {
  const message = await chat.next(IDLE_TIMEOUT_MS);
  if (message === undefined) break;
  console.log(`Subscriber received: [${message.topic}] ${message.payload}`);
  message.ack();
}
console.log('Test completed!');

publisher.close();
subscriber.close();
await bus.close();
server.close();
