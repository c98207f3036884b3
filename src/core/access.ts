// Who may do what (PROTOCOL.md §12): the credentials a broker knows, found by their token's hash, and made,
// changed, rotated and removed. EVENTBUS_TOKEN is the credential `admin`, kept nowhere; with neither it nor any
// stored credential, nothing is checked (§7). The store is the truth, and a broker reads it again when told of
// a change (another broker's, on a shared store).
import { err, errAsync, ok, type Result, type ResultAsync } from 'neverthrow';
import { brokerError, type BrokerError } from '../errors.js';
import type { CredentialRecord } from './credential-records.js';
import { ADMIN_GRANT, ADMIN_NAME, checkCredentialName, checkPermissions, Grant, newToken, sameHash, tokenHash, type Permissions, type PermissionsInput } from './credentials.js';
import type { CredentialStore, StorageError } from './store-port.js';

export type AccessError = BrokerError<'BAD_ARGS' | 'BAD_PATTERN' | 'UNAVAILABLE'>;

/** A credential as made or rotated: the token is in this answer and nowhere else. */
export interface IssuedCredential {
  readonly credential: CredentialRecord;
  readonly token: string;
}

export class Access {
  readonly #store: CredentialStore;
  readonly #adminHash: string | undefined;
  readonly #now: () => number;
  /** The stored credentials, by token hash. */
  #byHash = new Map<string, Grant>();
  #records: CredentialRecord[] = [];
  readonly #changeListeners: (() => void)[] = [];

  constructor(store: CredentialStore, adminToken: string | undefined, now: () => number) {
    this.#store = store;
    this.#adminHash = adminToken === undefined ? undefined : tokenHash(adminToken);
    this.#now = now;
  }

  /** Reads the stored credentials (at start, and when one changed on another broker). */
  load(): ResultAsync<void, StorageError> {
    return this.#store.list().map((records) => this.#use(records));
  }

  /** Whether tokens are checked at all: EVENTBUS_TOKEN is set, or a credential is stored. */
  get enabled(): boolean {
    return this.#adminHash !== undefined || this.#records.length > 0;
  }

  /** Calls `listener` after the credentials changed (made, changed, rotated, removed, here or read again). */
  onChange(listener: () => void): void {
    this.#changeListeners.push(listener);
  }

  /**
   * What a token may do: undefined when it is none of the credentials'. Anyone may do anything while tokens are
   * not checked.
   */
  grantFor(token: string | null | undefined): Grant | undefined {
    return this.grantByHash(token === null || token === undefined ? undefined : tokenHash(token));
  }

  /** As grantFor, given tokenHash() of the token (undefined: none given). */
  grantByHash(hash: string | undefined): Grant | undefined {
    if (!this.enabled) return ADMIN_GRANT;
    if (hash === undefined) return undefined;
    if (this.#adminHash !== undefined && sameHash(hash, this.#adminHash)) return ADMIN_GRANT;
    // Found by the hash of what was given: how long the lookup takes could tell something of that hash, never
    // of a stored token.
    return this.#byHash.get(hash);
  }

  /** Notes that these credentials let someone in (last_used_at). */
  used(names: readonly string[], at: number): ResultAsync<void, StorageError> {
    return this.#store.used(names, at);
  }

  /** The stored credentials, by name (without tokens: only their hashes are kept). */
  list(): readonly CredentialRecord[] {
    return this.#records;
  }

  create(name: string, input: PermissionsInput): ResultAsync<IssuedCredential, AccessError> {
    const checked = this.#check(name, input);
    if (checked.isErr()) return errAsync(checked.error);
    const token = newToken();
    const now = this.#now();
    const credential: CredentialRecord = { name, ...checked.value, tokenHash: tokenHash(token), createdAt: now, updatedAt: now, lastUsedAt: null };
    return this.#store.add(credential).andThen((added) => (added ? this.load().map(() => ({ credential, token })) : errAsync(brokerError('BAD_ARGS', `a credential ${name} exists already`))));
  }

  /** Replaces the permissions given; the others, and the token, stay. */
  update(name: string, input: PermissionsInput): ResultAsync<CredentialRecord, AccessError> {
    const current = this.#record(name);
    if (current.isErr()) return errAsync(current.error);
    const c = current.value;
    const merged: PermissionsInput = {
      publish: input.publish ?? c.publish,
      subscribe: input.subscribe ?? c.subscribe,
      consumers: input.consumers ?? c.consumers,
      monitor: input.monitor ?? c.monitor,
      admin: input.admin ?? c.admin,
      publishRate: input.publishRate === undefined ? c.publishRate : input.publishRate,
    };
    const checked = checkPermissions(merged);
    if (checked.isErr()) return errAsync(checked.error);
    const updated: CredentialRecord = { ...c, ...checked.value, updatedAt: this.#now() };
    return this.#replace(updated).map(() => updated);
  }

  /** A new token; the old one stops working. */
  rotate(name: string): ResultAsync<IssuedCredential, AccessError> {
    const current = this.#record(name);
    if (current.isErr()) return errAsync(current.error);
    const token = newToken();
    const credential: CredentialRecord = { ...current.value, tokenHash: tokenHash(token), updatedAt: this.#now() };
    return this.#replace(credential).map(() => ({ credential, token }));
  }

  remove(name: string): ResultAsync<void, AccessError> {
    return this.#store.remove(name).andThen((removed) => (removed ? this.load() : errAsync(unknownCredential(name))));
  }

  #check(name: string, input: PermissionsInput): Result<Permissions, AccessError> {
    const named = checkCredentialName(name);
    if (named.isErr()) return err(named.error);
    if (name === ADMIN_NAME) return err(brokerError('BAD_ARGS', `${ADMIN_NAME} is EVENTBUS_TOKEN's credential; choose another name`));
    return checkPermissions(input);
  }

  #record(name: string): Result<CredentialRecord, AccessError> {
    const found = this.#records.find((r) => r.name === name);
    return found === undefined ? err(unknownCredential(name)) : ok(found);
  }

  #replace(record: CredentialRecord): ResultAsync<void, AccessError> {
    return this.#store.replace(record).andThen((replaced) => (replaced ? this.load() : errAsync(unknownCredential(record.name))));
  }

  #use(records: CredentialRecord[]): void {
    this.#records = records;
    // A credential whose permissions did not change keeps its grant, with the decisions it has cached; a
    // connection holding it sees no change.
    const before = new Map([...this.#byHash.values()].map((g) => [g.name, g]));
    this.#byHash = new Map(
      records.map((r) => {
        const kept = before.get(r.name);
        return [r.tokenHash, kept !== undefined && samePermissions(kept.permissions, r) ? kept : new Grant(r.name, r)];
      }),
    );
    for (const listener of this.#changeListeners) listener();
  }

}

function samePermissions(a: Permissions, b: Permissions): boolean {
  const same = (x: readonly string[], y: readonly string[]): boolean => x.length === y.length && x.every((v, i) => v === y[i]);
  return same(a.publish, b.publish) && same(a.subscribe, b.subscribe) && same(a.consumers, b.consumers) && a.monitor === b.monitor && a.admin === b.admin && a.publishRate === b.publishRate;
}

const unknownCredential = (name: string): BrokerError<'BAD_ARGS'> => brokerError('BAD_ARGS', `no credential ${name}`);
