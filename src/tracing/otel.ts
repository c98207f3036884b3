// The broker's spans over OpenTelemetry (PROTOCOL.md §13, docs/observability.md): the core's Tracing port on
// the official JS SDK, exported over OTLP/HTTP as the standard OTEL_* variables say. Imported only when
// tracing is wanted (wanted.ts), so a broker without an OTLP endpoint loads none of the SDK.
import {
  defaultTextMapGetter,
  defaultTextMapSetter,
  diag,
  DiagLogLevel,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Appended } from '../core/store-port.js';
import type { AttemptFailure, AttemptTrace, PublishTrace, TracedRow, Tracing } from '../core/tracing.js';
import type { StoredMessage } from '../core/types.js';
import type { Logger } from '../logger.js';
import { traceHeaders } from '../protocol/trace-context.js';
import { LogThrottle } from '../util/log-throttle.js';

// The messaging conventions' names (still incubating in @opentelemetry/semantic-conventions, whose advice is to
// copy them rather than import the unstable entry point), and eventbus's own under messaging.eventbus.
const A = {
  system: 'messaging.system',
  destination: 'messaging.destination.name',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  messageId: 'messaging.message.id',
  group: 'messaging.consumer.group.name',
  errorType: 'error.type',
  seq: 'messaging.eventbus.seq',
  delivery: 'messaging.eventbus.delivery',
  duplicate: 'messaging.eventbus.duplicate',
  createdAt: 'messaging.eventbus.created_at',
} as const;

const SYSTEM = 'eventbus';
// The exporter's own complaints (an endpoint that does not answer) would come with every batch.
const DIAG_LOG_INTERVAL_MS = 60_000;

export interface OtelTracingOptions {
  /** EVENTBUS_NODE_ID: service.instance.id. */
  readonly nodeId: string;
  readonly version: string;
  readonly logger: Logger;
}

/** Spans exported over OTLP/HTTP to the endpoint of the OTEL_EXPORTER_OTLP_* variables. */
export function otelTracing(options: OtelTracingOptions): Tracing {
  const { logger } = options;
  const throttle = new LogThrottle(DIAG_LOG_INTERVAL_MS);
  const warn = (message: string): void =>
    void throttle.maybeWrite(Date.now(), (heldBack) => logger.warn('tracing: span export failed', { reason: message, ...(heldBack > 0 ? { similar_held_back: heldBack } : {}) }));
  diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, DiagLogLevel.WARN);
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the broker's own names.
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': SYSTEM, 'service.version': options.version, 'service.instance.id': options.nodeId }))
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] });
  const tracer = provider.getTracer(SYSTEM, options.version);
  const propagator = new W3CTraceContextPropagator();

  /** The trace context a message's metadata carries, as a context to start a span in. */
  const contextOf = (metadataJson: string): Context | undefined => {
    const headers = traceHeaders(metadataJson);
    if (headers['traceparent'] === undefined) return undefined;
    const context = propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    return trace.getSpanContext(context) === undefined ? undefined : context;
  };

  /** `metadataTail` with the span's context as its traceparent. */
  const withContext = (metadataTail: string, span: Span): string => {
    const carrier: Record<string, string> = {};
    propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
    const fields = Object.entries(carrier).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',');
    return metadataTail === '{}' ? `{${fields}}` : `{${fields},${metadataTail.slice(1)}`;
  };

  const fail = (span: Span, type: string, reason: string | undefined): void => {
    span.setAttribute(A.errorType, type);
    span.setStatus({ code: SpanStatusCode.ERROR, ...(reason === undefined ? {} : { message: reason }) });
  };

  return {
    on: true,
    publish(rows: readonly TracedRow[]): PublishTrace {
      const spans: Span[] = [];
      const metadataTails: string[] = [];
      for (const row of rows) {
        const parent = contextOf(row.metadataTail);
        const attributes: Attributes = { [A.system]: SYSTEM, [A.destination]: row.topic, [A.operationType]: 'send', [A.operationName]: 'publish' };
        if (row.messageId !== null) attributes[A.messageId] = row.messageId;
        const span = tracer.startSpan(`publish ${row.topic}`, { kind: SpanKind.SERVER, attributes }, parent ?? ROOT_CONTEXT);
        spans.push(span);
        // A message that came with no context (or an unreadable one, left as it is) carries the publish's on.
        metadataTails.push(parent === undefined && !row.metadataTail.includes('"traceparent"') ? withContext(row.metadataTail, span) : row.metadataTail);
      }
      return {
        metadataTails,
        durable(appended: readonly Appended[], createdAt: number): void {
          for (let i = 0; i < spans.length; i++) {
            const span = spans[i]!;
            const { seq, duplicate } = appended[i]!;
            if (rows[i]!.messageId === null) span.setAttribute(A.messageId, `eventbus-${seq}`);
            span.setAttributes({ [A.seq]: seq, [A.createdAt]: createdAt, ...(duplicate ? { [A.duplicate]: true } : {}) });
            span.end();
          }
        },
        failed(code: string, reason: string): void {
          for (const span of spans) {
            fail(span, code, reason);
            span.end();
          }
        },
      };
    },
    attempt(message: StoredMessage, consumer: string | undefined, delivery: number): AttemptTrace {
      const origin = contextOf(message.metadata);
      const link = origin === undefined ? undefined : trace.getSpanContext(origin);
      const links: Link[] = link === undefined ? [] : [{ context: link }];
      const attributes: Attributes = {
        [A.system]: SYSTEM,
        [A.destination]: message.topic,
        [A.operationType]: 'send',
        [A.operationName]: 'deliver',
        [A.messageId]: message.messageId ?? `eventbus-${message.seq}`,
        [A.seq]: message.seq,
        [A.delivery]: delivery,
      };
      if (consumer !== undefined) attributes[A.group] = consumer;
      const span = tracer.startSpan(`deliver ${message.topic}`, { kind: SpanKind.PRODUCER, attributes, links }, ROOT_CONTEXT);
      return {
        end(failure?: AttemptFailure, reason?: string): void {
          if (failure !== undefined) fail(span, failure, reason);
          span.end();
        },
      };
    },
    // A collector that does not answer loses the last spans; the broker stops all the same.
    close: () => provider.shutdown().catch((e: unknown) => logger.warn('tracing: the last spans could not be exported', { reason: e instanceof Error ? e.message : String(e) })),
  };
}
