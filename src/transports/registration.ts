// The registration server (PROTOCOL.md §4, default port 49153): consumers register push endpoints and
// manage their patterns. A thin adapter: parse a command → may it (§12) → broker consumer API → reply lines.
import { errAsync, okAsync, type ResultAsync } from 'neverthrow';
import type { Config, StaticConsumer } from '../config.js';
import type { Broker, ConsumerInfo, Forbidden, Gate, Principal } from '../core/broker.js';
import { brokerError, unreachable, type BrokerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isAllowedTarget, parseAddress, type PushAddress } from '../protocol/address.js';
import type { ConsumerLimitsInput } from '../protocol/pull.js';
import type { PushFormat } from '../protocol/push-format.js';
import { COMMAND_USAGE, formatConsumerLine, parseRegistrationLine, type RegistrationCommand } from '../protocol/registration.js';
import { formatErr } from '../protocol/replies.js';
import { LineServer, lineLimits, type LineLimitsConfig } from './line-server.js';
import type { LineConnection, Reply } from './line-session.js';

export type RegistrationConfig = Pick<Config, 'host' | 'registrationPort' | 'allowedTargets'> & LineLimitsConfig;

/** How a consumer's deliveries are going, for LIST: `paused`, `connected`, `retrying`, `offline`. */
export type ConsumerState = (consumer: ConsumerInfo) => string;

// Commands are short; a line this long is a mistake or an attack, and is refused without being buffered.
const MAX_COMMAND_BYTES = 64 * 1024;

export function createRegistrationServer(commands: RegistrationCommands, config: RegistrationConfig, logger: Logger): LineServer {
  // A connection's commands run one after the other, not only answered in order: a command may depend on the
  // one before it in the same write (REGISTER, then SUBSCRIBE or LIST), and on PostgreSQL a new consumer is
  // known to the broker only once the database has stored it.
  const running = new WeakMap<LineConnection, Promise<Reply>>();
  return new LineServer(
    {
      name: 'registration',
      host: config.host,
      port: config.registrationPort,
      maxLineBytes: MAX_COMMAND_BYTES,
      gate: commands.gate,
      ...lineLimits(config),
    },
    {
      line: (text, conn, principal) => {
        const command = parseRegistrationLine(text);
        if (command.isErr()) return formatErr(command.error);
        // Answered at once, so the line server reads nothing after it.
        if (command.value.type === 'quit') return { text: 'OK bye', close: true };
        const { value } = command;
        const run = (): Promise<Reply> => allowed(principal, value, () => commands.run(value)).match((reply) => reply, formatErr);
        const before = running.get(conn);
        const reply = before === undefined ? run() : before.then(run, run);
        running.set(conn, reply);
        return reply;
      },
      tooLong: (bytes) => formatErr(brokerError('BAD_ARGS', `command of ${bytes} bytes is over the ${MAX_COMMAND_BYTES}-byte limit`)),
    },
    logger,
  );
}

/** A command run if `principal` may (PROTOCOL.md §12): LIST is monitoring, HELP anyone's, the rest administration. */
function allowed(principal: Principal, command: RegistrationCommand, run: () => ResultAsync<Reply, CommandFailure>): ResultAsync<Reply, CommandFailure | Forbidden> {
  switch (command.type) {
    case 'help':
    case 'quit':
      return run();
    case 'list': {
      const may = principal.monitor('LIST');
      return may.isErr() ? errAsync(may.error) : run();
    }
    default:
      return principal.administer(command.type.toUpperCase(), command.id, run);
  }
}

type CommandFailure = BrokerError<'BAD_ADDRESS' | 'BAD_ARGS' | 'BAD_PATTERN' | 'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>;

/** The commands over the broker; also used for EVENTBUS_CONSUMER_<ID> at start-up. */
export class RegistrationCommands {
  readonly #broker: Broker;
  readonly #allowedTargets: readonly string[] | undefined;
  readonly #stateOf: ConsumerState;
  readonly #changed: (consumer: string) => void;

  /** `changed` hears of every consumer created, updated or removed here (push delivery follows it). */
  constructor(
    broker: Broker,
    allowedTargets: readonly string[] | undefined,
    stateOf: ConsumerState,
    changed: (consumer: string) => void,
  ) {
    this.#broker = broker;
    this.#allowedTargets = allowedTargets;
    this.#stateOf = stateOf;
    this.#changed = changed;
  }

  /** Who may run them (PROTOCOL.md §12). */
  get gate(): Gate {
    return this.#broker.gate;
  }

  run(command: RegistrationCommand): ResultAsync<Reply, CommandFailure> {
    switch (command.type) {
      case 'register':
        return this.register(command.id, command.address, command.patterns).map(() => `OK registered ${command.id}`);
      case 'subscribe':
      case 'unsubscribe': {
        const consumer = this.#broker.consumer(command.id);
        if (consumer === undefined) return errAsync(brokerError('UNKNOWN_CONSUMER', `no consumer ${command.id}`));
        const patterns =
          command.type === 'subscribe'
            ? union(consumer.patterns, command.patterns)
            : consumer.patterns.filter((p) => !command.patterns.includes(p));
        const verb = command.type === 'subscribe' ? 'subscribed' : 'unsubscribed';
        // The patterns alone change: a save without the filter would drop the one the consumer has.
        const filter = consumer.filter === null ? undefined : (JSON.parse(consumer.filter) as unknown);
        return this.#broker
          .saveConsumer({ id: command.id, address: consumer.address, patterns, filter })
          .andTee(() => this.#changed(command.id))
          .map(() => `OK ${verb} ${command.id} ${command.patterns.join(' ')}`);
      }
      case 'unregister':
        return this.unregister(command.id).map(() => `OK unregistered ${command.id}`);
      case 'replay':
        return this.#broker.replay(command.id, command.seq).map(() => `OK replaying ${command.id} from ${command.seq}`);
      case 'pause':
        return this.#broker.pauseConsumer(command.id).map(() => `OK paused ${command.id}`);
      case 'resume':
        return this.#broker.resumeConsumer(command.id).map(() => `OK resumed ${command.id}`);
      case 'list':
        return this.#broker
          .consumerReports()
          .map((reports) => [...reports.map((c) => formatConsumerLine({ state: this.#stateOf(c), ...c })), 'END'].join('\n'));
      case 'help':
        return okAsync([...COMMAND_USAGE, 'END'].join('\n'));
      case 'quit':
        return okAsync({ text: 'OK bye', close: true });
      default:
        return unreachable(command);
    }
  }

  /** REGISTER: creates the consumer, or updates its address and adds patterns. */
  register(id: string, address: PushAddress, patterns: readonly string[]): ResultAsync<ConsumerInfo, CommandFailure> {
    return this.put(id, { address, patterns });
  }

  /**
   * REGISTER with what PUT /api/consumers/<id> may leave out: creates the consumer or updates it, its address
   * replaced when given (a new consumer without one is read over the API), its patterns added to, its filter,
   * its backoff, its format and its limits replaced when given.
   */
  put(
    id: string,
    input: {
      address?: PushAddress | undefined;
      patterns: readonly string[];
      filter?: unknown;
      leaseMs?: number | undefined;
      /** Null removes the consumer's backoff; absent keeps it. */
      backoffMs?: readonly number[] | null | undefined;
      /** Null goes back to the default; absent keeps the consumer's. */
      format?: PushFormat | null | undefined;
      /** Each given one set (null: back to the setting), the others kept. */
      limits?: ConsumerLimitsInput | undefined;
    },
  ): ResultAsync<ConsumerInfo, CommandFailure> {
    const { address } = input;
    if (address !== undefined && !isAllowedTarget(address, this.#allowedTargets)) {
      return errAsync(brokerError('BAD_ADDRESS', `${address.url} is not in EVENTBUS_ALLOWED_TARGETS`));
    }
    const existing = this.#broker.consumer(id);
    const stored = existing?.filter ?? null;
    const filter = input.filter !== undefined ? input.filter : stored === null ? undefined : (JSON.parse(stored) as unknown);
    return this.#broker
      .saveConsumer({
        id,
        address: address?.url ?? existing?.address ?? null,
        patterns: union(existing?.patterns ?? [], input.patterns),
        filter,
        ...(input.leaseMs === undefined ? {} : { leaseMs: input.leaseMs }),
        backoffMs: input.backoffMs,
        format: input.format,
        limits: input.limits,
      })
      .andTee(() => this.#changed(id));
  }

  /** UNREGISTER: removes the consumer; its push delivery stops. */
  unregister(id: string): ResultAsync<void, BrokerError<'UNKNOWN_CONSUMER' | 'UNAVAILABLE'>> {
    return this.#broker.removeConsumer(id).andTee(() => this.#changed(id));
  }

  /** EVENTBUS_CONSUMER_<ID> at start-up, as REGISTER would. */
  registerStatic(consumer: StaticConsumer): ResultAsync<ConsumerInfo, CommandFailure> {
    const address = parseAddress(consumer.address);
    if (address.isErr()) return errAsync(address.error);
    return this.register(consumer.id, address.value, consumer.patterns);
  }
}

function union(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])];
}
