// The HTTP API's bodies and answers for credentials and the audit log (PROTOCOL.md §12) as zod schemas, and
// the pure mappings from the broker's values to them. Pure: no I/O.
import { z } from 'zod';
import type { AuditRow, CredentialRecord, Permissions, PermissionsInput } from '../core/broker.js';
import { pageLimit, wholeText } from './http-bodies.js';

const patterns = (what: string) => z.array(z.string()).optional().meta({ description: what });

export const CredentialBody = z
  .object({
    name: z.string().meta({ description: '1 to 64 letters, digits and "._:@-", starting with a letter or digit' }),
    publish: patterns('topic patterns it may publish to'),
    subscribe: patterns('topic patterns it may read; a subscription must be covered by them'),
    consumers: patterns('durable consumer ids it may use; "*" stands for any run of characters'),
    monitor: z.boolean().optional().meta({ description: 'may read the operator views: stats, topics, consumers, dead letters, schedules, /metrics, the dashboard' }),
    admin: z.boolean().optional().meta({ description: 'may do everything' }),
    publish_rate: z.number().int().min(1).nullable().optional().meta({ description: 'messages a second it may publish, per broker; null or absent: no limit' }),
  })
  .meta({ id: 'CredentialBody' });
export type CredentialBody = z.infer<typeof CredentialBody>;

/** PATCH: the permissions given replace those stored; the others stay. */
export const CredentialChange = CredentialBody.omit({ name: true }).meta({ id: 'CredentialChange' });

export const NameParam = z.object({ name: z.string().min(1) });

// What a credential may do, as the answers show it: a credential's own, and /api/whoami's.
const permissionFields = {
  publish: z.array(z.string()),
  subscribe: z.array(z.string()),
  consumers: z.array(z.string()),
  monitor: z.boolean(),
  admin: z.boolean(),
  publish_rate: z.number().nullable(),
};

export const Credential = z
  .object({
    name: z.string(),
    ...permissionFields,
    created_at: z.number(),
    updated_at: z.number(),
    last_used_at: z.number().nullable().meta({ description: 'when a broker last let it in (ms), to the minute; null if never' }),
  })
  .meta({ id: 'Credential', description: 'A credential, without its token: only a hash of it is kept' });

export const IssuedCredential = Credential.extend({ token: z.string().meta({ description: 'the token: shown this once, kept nowhere' }) }).meta({ id: 'IssuedCredential' });

export const RemovedCredential = z.object({ name: z.string() });

export const WhoAmI = z
  .object({
    name: z.string().meta({ description: 'the credential: "admin" for EVENTBUS_TOKEN, and for everyone while no token is checked' }),
    ...permissionFields,
  })
  .meta({ id: 'WhoAmI', description: "What the request's token may do" });

export const AuditQuery = z.object({
  from_time: wholeText('from_time').optional().meta({ description: 'entries at or after this time (ms); default: the oldest kept' }),
  after: wholeText('after').optional().meta({ description: 'the "next" of the page before' }),
  limit: pageLimit.optional(),
});

export const AuditEntry = z.object({
  at: z.number(),
  credential: z.string().nullable().meta({ description: 'who acted or was refused; null for a token that is no credential' }),
  peer: z.string(),
  action: z.string().meta({ description: '<front-end> <operation>, e.g. "http PUT /api/consumers/billing", "ws subscribe"' }),
  target: z.string().nullable(),
  outcome: z.string().meta({ description: '"ok", or the code and reason of the refusal or failure' }),
});

export const AuditPage = z
  .object({
    entries: z.array(AuditEntry),
    next: z.number().nullable().meta({ description: 'pass as ?after= (with the same from_time) for the next page; null when this page is the last' }),
  })
  .meta({ id: 'AuditPage' });

/** What a credential may do, as the answers show it. */
export function wirePermissions(p: Permissions): z.infer<z.ZodObject<typeof permissionFields>> {
  return { publish: [...p.publish], subscribe: [...p.subscribe], consumers: [...p.consumers], monitor: p.monitor, admin: p.admin, publish_rate: p.publishRate };
}

export function wireCredential(c: CredentialRecord): z.infer<typeof Credential> {
  return { name: c.name, ...wirePermissions(c), created_at: c.createdAt, updated_at: c.updatedAt, last_used_at: c.lastUsedAt };
}

export function permissionsOf(body: z.infer<typeof CredentialChange>): PermissionsInput {
  return { publish: body.publish, subscribe: body.subscribe, consumers: body.consumers, monitor: body.monitor, admin: body.admin, publishRate: body.publish_rate };
}

export function wireAuditEntry(row: AuditRow): z.infer<typeof AuditEntry> {
  return { at: row.at, credential: row.credential, peer: row.peer, action: row.action, target: row.target, outcome: row.outcome };
}
