// The dashboard's side of the HTTP API (PROTOCOL.md §8): its answers as the page reads them, and the token.
// A page opened as /?token=<EVENTBUS_TOKEN> sends it on every call: as a Bearer header on fetch, and in the
// query of the event stream, since EventSource cannot set headers.

export interface Topic {
  topic: string;
  messages: number;
  first_seq: number;
  last_seq: number;
  published_per_s: number;
}

export interface Consumer {
  id: string;
  address: string | null;
  patterns: string[];
  state: string;
  paused: boolean;
  position: number;
  lag: number;
  in_flight: number;
  dead_letters: number;
  /** The last failed push attempt, or null. */
  last_failure: { at: number; error: string } | null;
  /** Its limits as they apply: its own, else the settings'. */
  ack_timeout_ms: number;
  max_deliveries: number;
  max_in_flight: number;
}

/** One `stats` event of GET /api/stats/stream. */
export interface StatsEvent {
  at: number;
  node_id: string;
  head_seq: number;
  published_per_s: number;
  delivered_per_s: number;
  topics: Topic[];
  consumers: Consumer[];
}

export interface Message {
  seq: number;
  topic: string;
  payload: string;
  message_id: string | null;
  created_at: number;
  status: string;
}

export interface DeadLetter {
  seq: number;
  topic: string;
  payload: string;
  reason: string;
  deliveries: number;
  dead_at: number;
}

/** A schedule as GET /api/schedules lists it (PROTOCOL.md §11). */
export interface Schedule {
  id: string;
  kind: 'once' | 'cron' | 'every';
  topic: string;
  cron: string | null;
  every_ms: number | null;
  timezone: string;
  next_at: number | null;
  last_at: number | null;
  fires: number;
  missed: number;
  paused: boolean;
}

/** What the page's own token may do: GET /api/whoami (PROTOCOL.md §12). */
export interface WhoAmI {
  name: string;
  publish: string[];
  subscribe: string[];
  consumers: string[];
  monitor: boolean;
  admin: boolean;
  publish_rate: number | null;
}

/** A stored credential as GET /api/credentials lists it: never its token. */
export interface Credential extends WhoAmI {
  created_at: number;
  updated_at: number;
  last_used_at: number | null;
}

/** POST /api/credentials and .../rotate: the credential with its token, the only time the broker shows it. */
export interface IssuedCredential extends Credential {
  token: string;
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const token = new URLSearchParams(location.search).get('token');

/** Whether the page was opened with ?token=: one opened without that the broker answers is on a broker that checks no token (§7). */
export const hasToken = token !== null;

/** A path of the API relative to the page, so that a page served under a prefix calls the API under it too. */
export function apiUrl(path: string, query: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, v);
  return `api/${path}${params.size > 0 ? `?${params.toString()}` : ''}`;
}

/** The URL of an event stream, with the token in its query. */
export function streamUrl(path: string): string {
  return apiUrl(path, { token: token ?? undefined });
}

/** Calls the API; an answer other than 200 is thrown as ApiError with the broker's code and message. */
export async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = (await res.json()) as unknown;
  if (!res.ok) {
    const e = answer as { code?: string; message?: string };
    throw new ApiError(e.code ?? `HTTP ${res.status}`, e.message ?? res.statusText);
  }
  return answer as T;
}

export const NEEDS_TOKEN = 'this broker needs a token: open the dashboard as /?token=<token>, with EVENTBUS_TOKEN or the token of a credential that may monitor';

/** What a page whose token may neither monitor nor administer shows, and nothing else. */
export const cannotMonitor = (name: string): string =>
  `the credential ${name} may not monitor this broker: the dashboard needs a token whose credential has monitor (to watch) or admin (to act as well)`;
