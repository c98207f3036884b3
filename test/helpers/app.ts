// The whole app (startApp: every front-end, every port 0) on a test's database, stopped after the test, with
// clients on each of its ports that are closed after the test too. What the front-end tests start.
import { startApp, type App } from '../../src/app.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { testAppConfig, type TestDb } from './broker.js';
import { lineClient, type LineClient, type LineClientOptions } from './line-client.js';
import type { TestScope } from './scope.js';
import { wsConnect, type ConnectOptions, type WsClient } from './ws-client.js';

/** The app, and the database it runs on (for SQL checks and restarts). */
export interface TestApp extends TestDb {
  readonly app: App;
  /** A telnet-style client on the transport port. */
  readonly transport: (options?: LineClientOptions) => Promise<LineClient>;
  /** A telnet-style client on the registration port. */
  readonly registration: (options?: LineClientOptions) => Promise<LineClient>;
  /** A WebSocket client on /ws. */
  readonly ws: (options?: ConnectOptions) => Promise<WsClient>;
}

export interface TestAppOptions {
  /** The database to start on (a restart); a fresh one of `scope`'s by default. */
  readonly db?: TestDb;
  /** silentLogger by default. */
  readonly logger?: Logger;
}

/** The app on a fresh database (or `options.db`); `env` overrides settings by their variable names. */
export async function startTestApp(scope: TestScope, env: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const db = options.db ?? (await scope.dir());
  const app = (await startApp(testAppConfig(db, env), options.logger ?? silentLogger))._unsafeUnwrap();
  scope.defer(() => app.stop());
  const line = async (port: number, clientOptions?: LineClientOptions): Promise<LineClient> => {
    const client = await lineClient(port, clientOptions);
    scope.defer(() => client.destroy());
    return client;
  };
  return {
    app,
    dbPath: db.dbPath,
    pgSchema: db.pgSchema,
    env: db.env,
    transport: (clientOptions) => line(app.ports.transport, clientOptions),
    registration: (clientOptions) => line(app.ports.registration, clientOptions),
    ws: async (clientOptions) => {
      const client = await wsConnect(app.ports.http, clientOptions);
      scope.defer(() => client.close());
      return client;
    },
  };
}
