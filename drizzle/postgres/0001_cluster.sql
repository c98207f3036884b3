CREATE TABLE "consumer_members" (
	"consumer" text NOT NULL,
	"node" text NOT NULL,
	"members" integer NOT NULL,
	"in_flight" integer NOT NULL,
	"expires_at" bigint NOT NULL,
	CONSTRAINT "consumer_members_consumer_node_pk" PRIMARY KEY("consumer","node")
);
--> statement-breakpoint
CREATE TABLE "consumer_partitions" (
	"consumer" text NOT NULL,
	"partition" integer NOT NULL,
	"node" text,
	"expires_at" bigint DEFAULT 0 NOT NULL,
	"position" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "consumer_partitions_consumer_partition_pk" PRIMARY KEY("consumer","partition")
);
--> statement-breakpoint
CREATE TABLE "leases" (
	"name" text PRIMARY KEY NOT NULL,
	"node" text NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "nodes" (
	"node_id" text PRIMARY KEY NOT NULL,
	"instance" text NOT NULL,
	"last_seen" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "consumer_partitions_node" ON "consumer_partitions" USING btree ("node");