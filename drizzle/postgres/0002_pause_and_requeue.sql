CREATE TABLE "requeued_messages" (
	"consumer" text NOT NULL,
	"seq" bigint NOT NULL,
	"requeued_at" bigint NOT NULL,
	CONSTRAINT "requeued_messages_consumer_seq_pk" PRIMARY KEY("consumer","seq")
);
--> statement-breakpoint
ALTER TABLE "consumers" ADD COLUMN "paused" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "consumers" ADD COLUMN "pause_changed_at" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "dead_letters_seq" ON "dead_letters" USING btree ("seq");