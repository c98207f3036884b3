// The filter grammar: compiles a client's JSON spec such as {"payload.amount": {"$gt": 1000}} once into a
// predicate over stored messages. Pure (no I/O, no clocks) and here rather than in core/, because the core
// compiles a subscription's filter with it and the CLI a `--where`, and the CLI takes nothing from core/.

import { err, ok, type Result } from 'neverthrow';
import { brokerError, unreachable, type BrokerError } from '../errors.js';
import type { StoredMessage } from '../core/types.js';

/** A filter as a client sends it: keys are paths, values are literals or operator objects. */
export type FilterSpec = Readonly<Record<string, unknown>>;

export type MessageFilter = (message: StoredMessage) => boolean;

type Scalar = string | number | boolean | null;
type FilterError = BrokerError<'BAD_ARGS'>;

/** Where a path reads from, listed cheapest first: conditions run in this order and stop at the first miss. */
type Source = 'seq' | 'topic' | 'metadata' | 'payload';
const SOURCE_COST: Readonly<Record<Source, number>> = { seq: 0, topic: 0, metadata: 1, payload: 2 };

/** A field that is absent: distinct from a JSON null, which exists. */
const MISSING: unique symbol = Symbol('missing');
const UNPARSED: unique symbol = Symbol('unparsed');
/** Gets the field's value, or MISSING. */
type Test = (value: unknown) => boolean;

interface Condition {
  readonly source: Source;
  /** Keys to follow from the source's root; empty for `topic`. */
  readonly path: readonly string[];
  readonly test: Test;
}

const OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists'] as const;
type Operator = (typeof OPERATORS)[number];
const isOperator = (key: string): key is Operator => (OPERATORS as readonly string[]).includes(key);

export function compileFilter(spec: unknown): Result<MessageFilter, FilterError> {
  if (!isPlainObject(spec)) return err(bad(`filter must be a JSON object, not ${describeType(spec)}`));
  const conditions: Condition[] = [];
  for (const [key, expected] of Object.entries(spec)) {
    const path = parsePath(key);
    if (path.isErr()) return err(path.error);
    const test = compileValue(key, expected);
    if (test.isErr()) return err(test.error);
    conditions.push({ ...path.value, test: test.value });
  }
  conditions.sort((a, b) => SOURCE_COST[a.source] - SOURCE_COST[b.source]);
  return ok(makeFilter(conditions));
}

function makeFilter(conditions: readonly Condition[]): MessageFilter {
  return (message) => {
    // Each JSON text is parsed at most once per call, and only when a condition reaches it.
    let metadata: unknown = UNPARSED;
    let payload: unknown = UNPARSED;
    for (const condition of conditions) {
      let root: unknown;
      switch (condition.source) {
        case 'seq':
          root = message.seq;
          break;
        case 'topic':
          root = message.topic;
          break;
        case 'metadata':
          if (metadata === UNPARSED) metadata = parseJson(message.metadata);
          root = metadata;
          break;
        case 'payload':
          if (payload === UNPARSED) payload = parseJson(message.payload);
          root = payload;
          break;
        default:
          return unreachable(condition.source);
      }
      if (!condition.test(follow(root, condition.path))) return false;
    }
    return true;
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return MISSING; // not JSON: every field under it is absent
  }
}

/** Own properties only, and array elements by index, so `payload.constructor` or `.length` never match. */
function follow(root: unknown, path: readonly string[]): unknown {
  let current = root;
  for (const key of path) {
    if (Array.isArray(current)) {
      if (!/^(?:0|[1-9]\d*)$/.test(key)) return MISSING;
      const index = Number(key);
      if (index >= current.length) return MISSING;
      current = current[index] as unknown;
    } else if (isPlainObject(current) && Object.hasOwn(current, key)) {
      current = current[key];
    } else {
      return MISSING;
    }
  }
  return current;
}

// `attributes.x` and `metadata.x` both name one key of the metadata object (attributes are a flat map
// of the EventClient interface), so the rest of the key is taken whole, dots included. `payload.a.b` walks nested JSON.
function parsePath(key: string): Result<Omit<Condition, 'test'>, FilterError> {
  if (key === 'topic') return ok({ source: 'topic', path: [] });
  // A range of the log (`{"seq": {"$lte": 120}}`): how `eventbus replay` ends a side replay at a seq.
  if (key === 'seq') return ok({ source: 'seq', path: [] });
  const dot = key.indexOf('.');
  const prefix = dot === -1 ? key : key.slice(0, dot);
  const rest = dot === -1 ? '' : key.slice(dot + 1);
  switch (prefix) {
    case 'attributes':
    case 'metadata':
      if (rest === '') return err(bad(`filter path ${quote(key)} needs a name after "${prefix}."`));
      return ok({ source: 'metadata', path: [rest] });
    case 'payload': {
      const path = rest.split('.');
      if (rest === '' || path.includes('')) {
        return err(bad(`filter path ${quote(key)} needs non-empty field names after "payload."`));
      }
      return ok({ source: 'payload', path });
    }
    default:
      return err(
        bad(`filter path ${quote(key)} must be "seq", "topic" or start with "payload.", "attributes." or "metadata."`),
      );
  }
}

function compileValue(key: string, expected: unknown): Result<Test, FilterError> {
  if (isScalar(expected)) return ok(equals(expected));
  if (!isPlainObject(expected)) {
    const kind = describeType(expected);
    return err(bad(`filter value for ${quote(key)} must be a JSON scalar or an operator object, not ${kind}`));
  }
  const tests: Test[] = [];
  for (const [name, operand] of Object.entries(expected)) {
    if (!isOperator(name)) return err(bad(`unknown operator ${quote(name)} in ${quote(key)}`));
    const test = compileOperator(name, operand);
    if (test === undefined) return err(bad(`${name} in ${quote(key)} ${OPERAND_RULES[name]}`));
    tests.push(test);
  }
  if (tests.length === 0) return err(bad(`operator object for ${quote(key)} is empty`));
  const [only] = tests;
  if (tests.length === 1 && only !== undefined) return ok(only);
  return ok((value) => {
    for (const test of tests) if (!test(value)) return false;
    return true;
  });
}

const OPERAND_RULES: Readonly<Record<Operator, string>> = {
  $eq: 'takes a JSON scalar',
  $ne: 'takes a JSON scalar',
  $gt: 'takes a number or a string',
  $gte: 'takes a number or a string',
  $lt: 'takes a number or a string',
  $lte: 'takes a number or a string',
  $in: 'takes an array of JSON scalars',
  $nin: 'takes an array of JSON scalars',
  $exists: 'takes true or false',
};

/** The test for one operator, or undefined when the operand is the wrong kind. */
function compileOperator(operator: Operator, operand: unknown): Test | undefined {
  switch (operator) {
    case '$eq':
      return isScalar(operand) ? equals(operand) : undefined;
    case '$ne':
      // The negation of $eq, so an absent field is "not equal" (as in MongoDB).
      return isScalar(operand) ? negate(equals(operand)) : undefined;
    case '$gt':
      return isOrderable(operand) ? compare(operand, (order) => order > 0) : undefined;
    case '$gte':
      return isOrderable(operand) ? compare(operand, (order) => order >= 0) : undefined;
    case '$lt':
      return isOrderable(operand) ? compare(operand, (order) => order < 0) : undefined;
    case '$lte':
      return isOrderable(operand) ? compare(operand, (order) => order <= 0) : undefined;
    case '$in':
      return isScalarArray(operand) ? oneOf(operand) : undefined;
    case '$nin':
      return isScalarArray(operand) ? negate(oneOf(operand)) : undefined;
    case '$exists':
      return typeof operand === 'boolean' ? (value) => (value !== MISSING) === operand : undefined;
    default:
      return unreachable(operator);
  }
}

// Scalars only, so === is the whole of equality; objects and arrays in a message never equal a literal.
const equals =
  (expected: Scalar): Test =>
  (value) =>
    value === expected;

const negate =
  (test: Test): Test =>
  (value) =>
    !test(value);

function oneOf(options: readonly Scalar[]): Test {
  const set = new Set<unknown>(options);
  return (value) => value !== MISSING && set.has(value);
}

/** Orders only like with like: a number against a number, a string against a string; else no match. */
function compare(operand: number | string, accept: (order: number) => boolean): Test {
  return (value) => {
    if (typeof value !== typeof operand) return false;
    const field = value as number | string;
    return accept(field < operand ? -1 : field > operand ? 1 : 0);
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isScalar(value: unknown): value is Scalar {
  if (typeof value === 'number') return Number.isFinite(value); // JSON has no NaN or Infinity
  return value === null || typeof value === 'string' || typeof value === 'boolean';
}

const isOrderable = (value: unknown): value is number | string =>
  typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));

const isScalarArray = (value: unknown): value is readonly Scalar[] => Array.isArray(value) && value.every(isScalar);

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

function bad(reason: string): FilterError {
  return brokerError('BAD_ARGS', reason);
}
