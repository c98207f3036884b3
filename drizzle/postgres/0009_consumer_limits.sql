ALTER TABLE "consumers" ADD COLUMN "ack_timeout_ms" bigint;--> statement-breakpoint
ALTER TABLE "consumers" ADD COLUMN "max_deliveries" integer;--> statement-breakpoint
ALTER TABLE "consumers" ADD COLUMN "max_in_flight" integer;