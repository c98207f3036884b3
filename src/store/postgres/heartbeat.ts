// The PostgreSQL store's ClusterPort: this broker's heartbeats, each a transaction under the cluster lock in
// the store's queue of writes (heartbeat-queries.ts), and the announcements of the other brokers' beats, as
// the head watch hears them.
import type { ResultAsync } from 'neverthrow';
import type pg from 'pg';
import type { ClusterPort, StorageError } from '../../core/store-port.js';
import type { Logger } from '../../logger.js';
import type { HeadWatch } from './head-watch.js';
import { heartbeat } from './heartbeat-queries.js';

export interface ClusterPortOptions {
  /** This broker's name among those sharing the database (EVENTBUS_NODE_ID). */
  readonly node: string;
  /** This store among those on the database: names its beats, and its own announcements are not heard back. */
  readonly instance: string;
  /** The channel the beats announce on (heartbeat-queries.ts's clusterChannel). */
  readonly channel: string;
  readonly watch: HeadWatch;
  readonly logger: Logger;
  /** Runs `work` in one transaction that holds the cluster lock, queued behind the store's other writes. */
  readonly underClusterLock: <T>(work: (c: pg.PoolClient) => Promise<T>) => ResultAsync<T, StorageError>;
}

export function clusterPort(options: ClusterPortOptions): ClusterPort {
  const { node, instance, channel, watch, logger } = options;
  let clashLogged = false;
  return {
    node,
    onAnnounce: (listener) => {
      watch.onAnnounce((consumers, from) => {
        if (from !== instance) listener(consumers);
      });
    },
    heartbeat: (beat) =>
      options.underClusterLock((c) => heartbeat(c, node, instance, beat, channel)).map(({ view, clash }) => {
        if (clash && !clashLogged) {
          logger.error('another broker runs under this EVENTBUS_NODE_ID: both deliver the same partitions; give each broker its own', { node_id: node });
        }
        clashLogged ||= clash;
        return view;
      }),
  };
}
