// The Config every part of the broker receives (PROTOCOL.md §1): one frozen, typed object, and the types of its
// parts. src/config/ makes it (parse.ts) from the environment and argv the command line hands in, by the table
// of settings (settings.ts); the rest of the broker never reads the environment, it is given the Config.

export type SyncMode = 'full' | 'normal';
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A retention rule: messages whose topic matches `pattern` are removed past an age or a count. */
export interface RetentionRule {
  readonly pattern: string;
  readonly maxAgeMs?: number | undefined;
  readonly maxMessages?: number | undefined;
}

/** A push consumer declared in the environment (`EVENTBUS_CONSUMER_<ID>`), registered at start-up. */
export interface StaticConsumer {
  readonly id: string;
  readonly address: string;
  readonly patterns: readonly string[];
}

export interface Config {
  readonly dbPath: string;
  /** This broker's name in the logs (and, on PostgreSQL, among the brokers sharing a database). */
  readonly nodeId: string;
  /** PostgreSQL only: the schema holding the tables. */
  readonly pgSchema: string;
  /** PostgreSQL only: how long a statement of the broker waits for a lock another session holds; 0: no limit. */
  readonly pgLockTimeoutMs: number;
  /** PostgreSQL only: the partitions a durable consumer's messages are spread over among brokers. */
  readonly consumerPartitions: number;
  readonly host: string;
  readonly transportPort: number;
  readonly registrationPort: number;
  readonly httpPort: number;
  readonly sync: SyncMode;
  readonly defaultTtlSeconds: number;
  readonly ackTimeoutMs: number;
  readonly maxDeliveries: number;
  /**
   * Seqs a durable consumer reserves ahead of its deliveries, written before it delivers past them: after a
   * kill, the unacked messages up to the reservation count as delivered once more.
   */
  readonly deliveryReservation: number;
  readonly maxInFlight: number;
  readonly maxPayloadBytes: number;
  readonly token: string | undefined;
  /** PEM files of the certificate (chain) and its key: both set, every listener speaks TLS; neither, none does. */
  readonly tlsCert: string | undefined;
  readonly tlsKey: string | undefined;
  /** The TLS 1.2 cipher suites the listeners offer, an OpenSSL cipher list (TLS 1.3 suites stay OpenSSL's unless named). */
  readonly tlsCiphers: string;
  /** A PEM file of CAs trusted for https:// and wss:// push endpoints, besides Node's bundled ones. */
  readonly pushCa: string | undefined;
  readonly allowedTargets: readonly string[] | undefined;
  readonly maxConnections: number;
  /** Unanswered lines per telnet connection before the broker stops reading from it. */
  readonly maxPipelinedLines: number;
  /** Largest WebSocket frame read; a bigger one closes that socket with 1009 (it cannot be skipped unread). */
  readonly maxFrameBytes: number;
  /** Unsent bytes per WebSocket (or event stream) before its deliveries pause and reading from it stops. */
  readonly wsBufferBytes: number;
  /** Largest HTTP API request body; a longer one is refused with TOO_LARGE unread. */
  readonly httpMaxBodyBytes: number;
  /** Rows of the log one page of GET /api/messages reads at most (a pattern that matches little ends the page early). */
  readonly httpScanRows: number;
  /** A push endpoint's time to accept a connection. */
  readonly pushConnectTimeoutMs: number;
  /** A push endpoint's time to answer an http request. */
  readonly pushTimeoutMs: number;
  /** While a push consumer keeps failing, at most one log line per this long; 0: a line per failure. */
  readonly pushFailureLogIntervalMs: number;
  readonly logLevel: LogLevel;
  readonly consumers: readonly StaticConsumer[];
  readonly retention: readonly RetentionRule[];
  readonly retentionIntervalMs: number;
  /** The furthest ahead a delayed publish may be scheduled (EVENTBUS_MAX_DELAY). */
  readonly maxDelayMs: number;
  /** How long rows of delivery_failures are kept; 0 keeps them all. */
  readonly failureLogMaxAgeMs: number;
  /** How long rows of audit_log are kept; 0 keeps them all. */
  readonly auditMaxAgeMs: number;
  /** A telnet line, or an HTTP request's headers, must arrive whole within this of its first byte. */
  readonly lineTimeoutMs: number;
  /** A telnet connection that sends nothing for this long is closed; 0: never. */
  readonly idleTimeoutMs: number;
  /** On SIGTERM/SIGINT, how long clients get to receive their last answers before their connections are cut. */
  readonly shutdownTimeoutMs: number;
}
