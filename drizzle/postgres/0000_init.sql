CREATE TABLE "consumers" (
	"id" text PRIMARY KEY NOT NULL,
	"address" text,
	"patterns" text DEFAULT '[]' NOT NULL,
	"position" bigint DEFAULT 0 NOT NULL,
	"filter" text,
	"rewound_at" bigint DEFAULT 0 NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "dead_letters" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"consumer" text NOT NULL,
	"seq" bigint NOT NULL,
	"topic" text NOT NULL,
	"payload" text NOT NULL,
	"metadata" text NOT NULL,
	"reason" text NOT NULL,
	"deliveries" integer NOT NULL,
	"dead_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "delivery_counts" (
	"consumer" text NOT NULL,
	"seq" bigint NOT NULL,
	"deliveries" integer NOT NULL,
	CONSTRAINT "delivery_counts_consumer_seq_pk" PRIMARY KEY("consumer","seq")
);
--> statement-breakpoint
CREATE TABLE "delivery_failures" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"consumer" text NOT NULL,
	"address" text NOT NULL,
	"seq" bigint,
	"attempt" integer NOT NULL,
	"failed_at" bigint NOT NULL,
	"latency_ms" integer NOT NULL,
	"error" text NOT NULL,
	"http_status" integer
);
--> statement-breakpoint
CREATE TABLE "log_head" (
	"id" smallint PRIMARY KEY DEFAULT 1 NOT NULL,
	"seq" bigint DEFAULT 0 NOT NULL,
	"created_at" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"message_id" text,
	"topic" text NOT NULL,
	"payload" text NOT NULL,
	"metadata" text DEFAULT '{}' NOT NULL,
	"ttl" integer DEFAULT 0 NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"ordering_key" text,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "processed_messages" (
	"consumer" text NOT NULL,
	"seq" bigint NOT NULL,
	"processed_at" bigint NOT NULL,
	"delivery" integer DEFAULT 1 NOT NULL,
	CONSTRAINT "processed_messages_consumer_seq_pk" PRIMARY KEY("consumer","seq")
);
--> statement-breakpoint
CREATE INDEX "dead_letters_consumer_seq" ON "dead_letters" USING btree ("consumer","seq");--> statement-breakpoint
CREATE INDEX "delivery_failures_consumer_failed_at" ON "delivery_failures" USING btree ("consumer","failed_at");--> statement-breakpoint
CREATE UNIQUE INDEX "messages_message_id_unique" ON "messages" USING btree ("message_id") WHERE message_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX "messages_topic_seq" ON "messages" USING btree ("topic","seq");--> statement-breakpoint
CREATE INDEX "messages_expires_at" ON "messages" USING btree ((created_at + ttl::bigint * 1000)) WHERE ttl > 0;--> statement-breakpoint
INSERT INTO "log_head" ("id") VALUES (1);
