// W3C trace context (PROTOCOL.md §13) as the broker carries it: a publish's `traceparent` and `tracestate`,
// given as HTTP headers or in metadata, are kept in the message's metadata and handed on with it; an http://
// push sends them back as headers. Pure: no I/O.

/** version-traceid-parentid-flags, lower-case hex (W3C Trace Context §3.2). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_PARENT = '0'.repeat(16);
// W3C Trace Context §3.3.1.1: at most 32 list members of up to 256 characters each, so 512 characters is what a
// vendor must keep at least; beyond that, a tracestate is dropped rather than stored at any length.
const MAX_TRACESTATE = 8192;
// Printable ASCII (§3.3.1.3's characters are a subset): what an HTTP header may carry as it is.
const TRACESTATE_TEXT = /^[\x20-\x7e]+$/;

export interface TraceContext {
  readonly traceparent: string;
  readonly tracestate?: string | undefined;
}

/**
 * The trace context of `traceparent` and `tracestate` as a receiver must read them: undefined for a
 * traceparent that is not one (version ff, all-zero ids, another shape), and then no tracestate either.
 */
export function parseTraceContext(traceparent: string | undefined, tracestate: string | undefined): TraceContext | undefined {
  const value = traceparent?.trim().toLowerCase();
  const parts = value === undefined ? null : TRACEPARENT.exec(value);
  if (parts === null || parts[1] === 'ff' || parts[2] === ZERO_TRACE || parts[3] === ZERO_PARENT) return undefined;
  const state = tracestate?.trim();
  const keep = state !== undefined && state.length <= MAX_TRACESTATE && TRACESTATE_TEXT.test(state);
  return keep ? { traceparent: value!, tracestate: state } : { traceparent: value! };
}

/** `metadata` with the trace context of a publish's headers, unless the metadata carries its own. */
export function withTraceContext(metadata: Readonly<Record<string, unknown>> | undefined, context: TraceContext | undefined): Readonly<Record<string, unknown>> | undefined {
  if (context === undefined || typeof metadata?.['traceparent'] === 'string') return metadata;
  return { ...metadata, ...context };
}

/** The trace headers of a stored message's metadata (JSON text): none when it carries no valid traceparent. */
export function traceHeaders(metadataJson: string): Record<string, string> {
  // Most messages carry none: their metadata is not parsed.
  if (!metadataJson.includes('"traceparent"')) return {};
  let metadata: unknown;
  try {
    metadata = JSON.parse(metadataJson);
  } catch {
    return {};
  }
  const m = metadata as Record<string, unknown> | null;
  const context = parseTraceContext(stringOf(m?.['traceparent']), stringOf(m?.['tracestate']));
  if (context === undefined) return {};
  return context.tracestate === undefined ? { traceparent: context.traceparent } : { traceparent: context.traceparent, tracestate: context.tracestate };
}

const stringOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
