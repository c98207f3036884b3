// Rows to append as one array per column: what the SQLite writer thread is sent (a few arrays clone far
// cheaper than one object per row) and what PostgreSQL's unnest() takes.
import type { AppendRow } from '../core/store-port.js';

export interface AppendColumns {
  readonly topics: string[];
  readonly payloads: string[];
  readonly messageIds: (string | null)[];
  readonly metadata: string[];
  readonly ttls: number[];
  readonly orderingKeys: (string | null)[];
  readonly createdAts: number[];
}

export function toColumns(rows: readonly AppendRow[]): AppendColumns {
  const n = rows.length;
  const c: AppendColumns = {
    topics: new Array<string>(n),
    payloads: new Array<string>(n),
    messageIds: new Array<string | null>(n),
    metadata: new Array<string>(n),
    ttls: new Array<number>(n),
    orderingKeys: new Array<string | null>(n),
    createdAts: new Array<number>(n),
  };
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    c.topics[i] = r.topic;
    c.payloads[i] = r.payload;
    c.messageIds[i] = r.messageId;
    c.metadata[i] = r.metadata;
    c.ttls[i] = r.ttlSeconds;
    c.orderingKeys[i] = r.orderingKey;
    c.createdAts[i] = r.createdAt;
  }
  return c;
}

