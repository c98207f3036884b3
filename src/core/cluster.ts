// Several brokers on one store: each beats a heartbeat into the store's lease tables, a few times per lease
// time, and from what the store answers learns the durable consumers (registered on any broker), which of
// their partitions it holds, which push consumers it delivers and which background jobs it runs. A durable
// consumer's partitions are spread over the brokers with members of it (partitions.ts); a partition moves
// only once its deliveries in flight are acked (or its holder is gone and its lease ran out), so each
// message goes to one member at a time cluster-wide and an ordering key's messages stay in order.
// A beat that finds a consumer's first member here, or its last gone, or gives partitions up, announces it
// (Heartbeat.announce): the other brokers with members of it beat at once, so that a join is handed its share
// (drain, release, take: a few beats in a row) before a heartbeat's tick, and a leaver's share is taken at once.
import type { Logger } from '../logger.js';
import type { ConsumerRegistry } from './consumers.js';
import type { Dispatcher } from './dispatcher.js';
import type { ClusterPort, ClusterView, ConsumerMembers, EventStore, Heartbeat, PartitionRef } from './store-port.js';
import type { Stream } from './stream.js';

export interface ClusterOptions {
  readonly port: ClusterPort;
  readonly store: EventStore;
  readonly dispatcher: Dispatcher;
  readonly consumers: ConsumerRegistry;
  readonly partitions: number;
  /** A dead broker's deliveries are handed on within this (its leases last half of it). */
  readonly ackTimeoutMs: number;
  readonly logger: Logger;
}

const PUSH_LEASE = 'push:';
const JOB_LEASE = 'job:';

export class Cluster {
  readonly #port: ClusterPort;
  readonly #store: EventStore;
  readonly #dispatcher: Dispatcher;
  readonly #consumers: ConsumerRegistry;
  readonly #partitions: number;
  readonly #ttlMs: number;
  readonly #nodeTimeoutMs: number;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  readonly #listeners: ((consumer: string) => void)[] = [];
  #view: ClusterView | undefined;
  /** Push consumers this broker delivers. */
  readonly #pushing = new Set<string>();
  #running = false;
  /** A beat was asked for while one was on its way: another follows it at once. */
  #again = false;
  #stopped = false;
  #lastOk = 0;
  #failing = false;
  /** The consumers with members here as of the last beat that went through: a change is announced. */
  #announced = new Set<string>();
  /** Waiting for a beat that starts after they came (nextBeat), and for the one under way. */
  #beatWaiters: (() => void)[] = [];

  constructor(options: ClusterOptions) {
    this.#port = options.port;
    this.#store = options.store;
    this.#dispatcher = options.dispatcher;
    this.#consumers = options.consumers;
    this.#partitions = options.partitions;
    this.#nodeTimeoutMs = options.ackTimeoutMs;
    // Half the ack timeout for the lease, and a beat every third of a lease: a broker that dies is noticed
    // by the others' next beat after its leases run out, within the ack timeout.
    this.#ttlMs = Math.max(50, Math.floor(options.ackTimeoutMs / 2));
    this.#log = options.logger;
    const beatMs = Math.min(1000, Math.floor(this.#ttlMs / 3));
    this.#timer = setInterval(() => this.nudge(), beatMs).unref();
    this.#port.onAnnounce((consumers) => {
      this.#heard(consumers);
    });
  }

  get node(): string {
    return this.#port.node;
  }

  /** The first beat: the consumers registered on other brokers are known once it resolves. */
  async start(): Promise<void> {
    await this.#beat();
  }

  /** Beats now (a consumer gained or lost its members here, or was registered), or right after the beat on its way. */
  nudge(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    void this.#beat();
  }

  /**
   * Resolves once a beat that starts from now has gone through (or failed): a member that just joined has then
   * been given the partitions that were free, and taken them.
   */
  nextBeat(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const beaten = new Promise<void>((resolve) => this.#beatWaiters.push(resolve));
    this.nudge();
    return beaten;
  }

  /**
   * Another broker's members of these consumers came or went, or it gave some of their partitions up: beat now
   * if this broker has members of one of them (its share changed).
   */
  #heard(consumers: readonly string[] | undefined): void {
    if (consumers === undefined || consumers.some((id) => (this.#dispatcher.durable(id)?.members.length ?? 0) > 0)) this.nudge();
  }

  /** Calls `listener` with a consumer's id when its record or its push delivery changed through another broker. */
  onChange(listener: (consumer: string) => void): void {
    this.#listeners.push(listener);
  }

  /** Whether this broker delivers the push consumer `id`. */
  pushes(id: string): boolean {
    return this.#pushing.has(id);
  }

  /** Whether this broker runs background job `name` now. */
  runs(name: string): boolean {
    return this.#view?.leases.has(JOB_LEASE + name) ?? false;
  }

  /** Members and deliveries in flight of a consumer on the other brokers, as of the last beat. */
  elsewhere(id: string): { members: number; inFlight: number } {
    let members = 0;
    let inFlight = 0;
    for (const m of this.#view?.members.get(id) ?? []) {
      if (m.node === this.node) continue;
      members += m.members;
      inFlight += m.inFlight;
    }
    return { members, inFlight };
  }

  nodes(): readonly { readonly node: string; readonly lastSeen: number }[] {
    return this.#view?.nodes ?? [];
  }

  /**
   * Stops beating and gives up every lease at once, so that the other brokers take over without waiting, with
   * the positions that the acks written last have reached.
   */
  async leave(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    while (this.#running) await new Promise((resolve) => setImmediate(resolve));
    const release: Heartbeat['release'][number][] = [];
    for (const stream of this.#dispatcher.durableStreams()) {
      this.#dispatcher.progress.touch(stream);
      for (const partition of stream.partitions!.held()) release.push({ consumer: stream.key, partition, keep: stream.keepsReservation(partition) });
    }
    // The last acks, with the positions they take the partitions to, before the partitions go.
    await this.#dispatcher.progress.settled();
    const announce = [...new Set([...this.#announced, ...release.map((r) => r.consumer)])];
    const left = await this.#port.heartbeat({ ...this.#emptyBeat(), release, announce });
    if (left.isErr()) this.#log.warn('could not give up the leases; other brokers take over when they run out', { reason: left.error.message });
  }

  async #beat(): Promise<void> {
    this.#running = true;
    try {
      do {
        this.#again = false;
        await this.#beatOnce();
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- nudge() sets it during the beat
      } while (this.#again && !this.#stopped);
    } finally {
      this.#running = false;
    }
  }

  async #beatOnce(): Promise<void> {
    const waiting = this.#beatWaiters.splice(0);
    try {
      await this.#beatOnceAndApply();
    } finally {
      for (const resolve of waiting) resolve();
    }
  }

  async #beatOnceAndApply(): Promise<void> {
    const version = this.#consumers.changes.version;
    const release = await this.#releasable();
    const members: { consumer: string; members: number; inFlight: number }[] = [];
    const want: PartitionRef[] = [];
    for (const stream of this.#dispatcher.durableStreams()) {
      const consumer = stream.key;
      // Its partitions' positions move with the acks, and also past messages it skips: written with the next acks.
      if (stream.partitions!.held().length > 0) this.#dispatcher.progress.touch(stream);
      if (stream.members.length > 0) {
        members.push({ consumer, members: stream.members.length, inFlight: stream.awaitingAck });
        for (const partition of this.#target(consumer)) if (!stream.partitions!.isHeld(partition)) want.push({ consumer, partition });
      }
    }
    const leases = [JOB_LEASE + 'retention'];
    for (const c of this.#consumers.records()) if (c.address !== null) leases.push(PUSH_LEASE + c.id);
    const here = new Set(members.map((m) => m.consumer));
    const announce = new Set(release.map((r) => r.consumer));
    for (const id of here) if (!this.#announced.has(id)) announce.add(id);
    for (const id of this.#announced) if (!here.has(id)) announce.add(id);
    const rewinds = new Map<string, number>();
    for (const stream of this.#dispatcher.durableStreams()) rewinds.set(stream.key, this.#consumers.changes.rewindsSettled(stream.key));
    const view = await this.#port.heartbeat({ ...this.#emptyBeat(), members, release, want, leases, announce: [...announce] });
    if (view.isErr()) {
      this.#failed(view.error.message);
      return;
    }
    this.#announced = here;
    if (this.#failing) this.#log.info('the cluster heartbeat works again');
    this.#failing = false;
    this.#lastOk = Date.now();
    await this.#apply(view.value, version, rewinds);
  }

  #emptyBeat() {
    return { ttlMs: this.#ttlMs, partitions: this.#partitions, nodeTimeoutMs: this.#nodeTimeoutMs, members: [], release: [], want: [], leases: [], announce: [] };
  }

  /**
   * Partitions to give up in this beat, given up here already: those of a consumer with no member here, and
   * draining ones with nothing left in flight. Their acks and attempt counts are written first, so that the
   * broker taking one over knows of them, and the positions those acks take them to with them.
   */
  async #releasable(): Promise<PartitionRef[]> {
    const candidates = (): [Stream, number][] => {
      const out: [Stream, number][] = [];
      for (const stream of this.#dispatcher.durableStreams()) {
        const parts = stream.partitions!;
        for (const p of parts.held()) {
          if (stream.members.length === 0 || (parts.isDraining(p) && stream.unackedIn(p) === 0)) out.push([stream, p]);
        }
      }
      return out;
    };
    const first = candidates();
    if (first.length === 0) return [];
    for (const [stream] of first) this.#dispatcher.progress.touch(stream);
    await this.#dispatcher.progress.settled();
    // A member may have come, or gone, while the acks were written: only what still qualifies goes.
    return candidates().map(([stream, partition]) => {
      const keep = stream.keepsReservation(partition);
      stream.release(partition);
      return { consumer: stream.key, partition, keep };
    });
  }

  /** This broker's share of a consumer's partitions: every n-th, among the n brokers with members of it. */
  #target(consumer: string): Set<number> {
    const nodes = (this.#view?.members.get(consumer) ?? []).map((m: ConsumerMembers) => m.node);
    if (!nodes.includes(this.node)) nodes.push(this.node);
    nodes.sort();
    const index = nodes.indexOf(this.node);
    const mine = new Set<number>();
    for (let p = index; p < this.#partitions; p += nodes.length) mine.add(p);
    return mine;
  }

  /** `rewinds`: the rewinds made here whose write had settled when the view was asked for, by consumer. */
  async #apply(view: ClusterView, version: number, rewinds: ReadonlyMap<string, number>): Promise<void> {
    if (this.#view !== undefined) this.#logNodes(this.#view.nodes, view.nodes);
    this.#view = view;
    const changed = this.#consumers.sync(view.consumers, version);
    const acquired: [Stream, Map<number, number>, ReadonlyMap<number, number>, number][] = [];
    for (const stream of this.#dispatcher.durableStreams()) {
      const parts = stream.partitions!;
      // Rewound here, and the rewind maybe not in the store as of this view: its leases and positions may be
      // from before it, and it gives every lease back once written. A beat after the write takes them anew.
      const rewinding = this.#consumers.changes.rewinding(stream.key);
      if (rewinding !== undefined) {
        void rewinding.then(() => this.nudge());
        continue;
      }
      if (this.#consumers.changes.rewindsSettled(stream.key) !== (rewinds.get(stream.key) ?? 0)) {
        this.#again = true;
        continue;
      }
      const held = view.held.get(stream.key) ?? new Map<number, number>();
      // Lost: its lease ran out (this broker could not beat in time), or a rewind gave every lease back.
      for (const p of parts.held()) if (!held.has(p)) stream.release(p);
      const target = stream.members.length > 0 ? this.#target(stream.key) : new Set<number>();
      const starts = new Map<number, number>();
      for (const [p, position] of held) {
        if (!parts.isHeld(p)) starts.set(p, position + 1);
        else if (parts.isDraining(p) && target.has(p)) stream.undrain(p);
        else if (!parts.isDraining(p) && !target.has(p)) {
          stream.drain(p);
          // Nothing of it in flight: given up by the beat that follows at once, not at the next tick.
          if (stream.unackedIn(p) === 0) this.#again = true;
        }
      }
      if (starts.size > 0) acquired.push([stream, starts, view.reserved.get(stream.key) ?? new Map<number, number>(), stream.rewinds]);
    }
    for (const [stream, starts, reserved, rewound] of acquired) await this.#acquire(stream, starts, reserved, rewound);
    for (const record of view.consumers) {
      const pushing = record.address !== null && view.leases.has(PUSH_LEASE + record.id);
      if (pushing === this.#pushing.has(record.id)) continue;
      if (pushing) this.#pushing.add(record.id);
      else this.#pushing.delete(record.id);
      this.#log.info(pushing ? 'push consumer taken: this broker delivers it' : 'push consumer given up: another broker delivers it', { consumer: record.id });
      changed.add(record.id);
    }
    for (const id of this.#pushing) if (!view.consumers.some((c) => c.id === id)) this.#pushing.delete(id);
    for (const id of changed) for (const listener of this.#listeners) listener(id);
  }

  /**
   * Takes partitions just leased: from their recorded positions, skipping what was acked above them, and
   * counting once more what a holder that never gave them up may have delivered (up to their reservations).
   */
  async #acquire(stream: Stream, starts: Map<number, number>, reserved: ReadonlyMap<number, number>, rewinds: number): Promise<void> {
    const record = this.#consumers.record(stream.key);
    if (record === undefined) return;
    const from = Math.min(...starts.values()) - 1;
    // Read before the counts are: if the rewind's batch is written meanwhile, what was read may still predate it.
    const voidFrom = stream.floors.countsVoidFrom;
    const acked = await this.#store.processedAbove(stream.key, from, record.rewoundAt);
    const prior = acked.isOk() ? await this.#store.deliveryCounts(stream.key, from) : acked;
    if (acked.isErr() || prior.isErr()) {
      // Held but not taken: the next beat tries again.
      this.#log.warn('could not read a partition\'s acks; the next heartbeat tries again', { consumer: stream.key });
      return;
    }
    if (stream.isClosed) return;
    // Rewound while the acks were read: the positions are from before it (the next beat takes the partitions anew).
    if (stream.rewinds !== rewinds) {
      this.nudge();
      return;
    }
    for (const p of starts.keys()) if (stream.partitions!.isHeld(p)) starts.delete(p);
    if (starts.size === 0) return;
    const current = Math.min(voidFrom, stream.floors.countsVoidFrom);
    stream.acquire(starts, acked.value, current === Infinity ? prior.value : new Map([...prior.value].filter(([seq]) => seq < current)), reserved);
    this.#log.info('partitions taken', { consumer: stream.key, partitions: [...starts.keys()].sort((x, y) => x - y).join(' ') });
    this.#dispatcher.progress.partitionsTaken(stream, starts.keys());
    // Dead letters requeued in these partitions, below their positions too.
    const requeued = await this.#consumers.takeRequeued(stream.key);
    if (requeued.isErr()) this.#log.warn('could not read the requeued dead letters; the next requeue or restart brings them', { consumer: stream.key });
  }

  /** The brokers that joined the database, and those seen gone (silent for the ack timeout), one line each. */
  #logNodes(before: ClusterView['nodes'], after: ClusterView['nodes']): void {
    const was = new Set(before.map((n) => n.node));
    const is = new Set(after.map((n) => n.node));
    for (const node of is) if (!was.has(node)) this.#log.info('broker joined', { node });
    for (const node of was) {
      if (!is.has(node)) this.#log.warn('broker gone: stopped, or silent for the ack timeout; its partitions and push consumers go to the others', { node });
    }
  }

  #failed(reason: string): void {
    if (!this.#failing) this.#log.warn('the cluster heartbeat failed; it is tried again', { reason });
    this.#failing = true;
    // Leases close to running out may be taken by another broker any moment: stop taking new messages.
    if (Date.now() - this.#lastOk < this.#ttlMs / 2) return;
    for (const stream of this.#dispatcher.durableStreams()) {
      for (const p of stream.partitions!.held()) stream.drain(p);
    }
  }
}
