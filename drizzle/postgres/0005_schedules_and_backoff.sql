CREATE TABLE "schedules" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"topic" text NOT NULL,
	"payload" text NOT NULL,
	"metadata" text DEFAULT '{}' NOT NULL,
	"ttl" integer DEFAULT 0 NOT NULL,
	"ordering_key" text,
	"message_id" text,
	"cron" text,
	"every_ms" bigint,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"start_at" bigint,
	"end_at" bigint,
	"next_at" bigint,
	"firing_at" bigint,
	"last_at" bigint,
	"fires" bigint DEFAULT 0 NOT NULL,
	"missed" bigint DEFAULT 0 NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "consumers" ADD COLUMN "backoff_ms" text;--> statement-breakpoint
CREATE UNIQUE INDEX "schedules_message_id_unique" ON "schedules" USING btree ("message_id") WHERE message_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX "schedules_due" ON "schedules" USING btree ("next_at") WHERE NOT paused AND next_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX "schedules_firing" ON "schedules" USING btree ("firing_at") WHERE firing_at IS NOT NULL;