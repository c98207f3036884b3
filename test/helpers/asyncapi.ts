// The message payloads of an AsyncAPI document as ajv validators, for the tests that hold frames and events to
// the document the broker serves: each payload compiled with its refs resolved within the document.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

type Json = Record<string, unknown>;

export interface PayloadValidators {
  /** The names of the document's messages (components.messages). */
  readonly names: readonly string[];
  /** The messages whose payload fixes `type` to this value (the frames of that wire type). */
  byType(type: string): readonly string[];
  /** Undefined when `value` is a valid payload of message `name`, else ajv's errors as text. */
  check(name: string, value: unknown): string | undefined;
}

export function payloadValidators(document: Json): PayloadValidators {
  // Not strict: the document's own keywords (asyncapi, info, channels…) sit around the schemas.
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  ajv.addSchema(document, 'asyncapi');
  const messages = (document['components'] as { messages: Record<string, { payload: Json }> }).messages;
  const validators = new Map<string, ValidateFunction>();
  for (const name of Object.keys(messages)) validators.set(name, ajv.compile({ $ref: `asyncapi#/components/messages/${name}/payload` }));
  const typeOf = (name: string): unknown => {
    const payload = messages[name]!.payload;
    const variants = (payload['anyOf'] as Json[] | undefined) ?? [payload];
    return (variants[0]!['properties'] as Record<string, { const?: unknown }> | undefined)?.['type']?.const;
  };
  return {
    names: Object.keys(messages),
    byType: (type) => Object.keys(messages).filter((name) => typeOf(name) === type),
    check: (name, value) => {
      const validate = validators.get(name);
      if (validate === undefined) return `the document has no message ${name}`;
      return validate(value) ? undefined : describe(validate.errors ?? []);
    },
  };
}

const describe = (errors: readonly ErrorObject[]): string => errors.map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`).join('; ');
