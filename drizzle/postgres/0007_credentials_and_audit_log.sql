CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" bigint NOT NULL,
	"credential" text,
	"peer" text NOT NULL,
	"action" text NOT NULL,
	"target" text,
	"outcome" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credentials" (
	"name" text PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"publish" text DEFAULT '[]' NOT NULL,
	"subscribe" text DEFAULT '[]' NOT NULL,
	"consumers" text DEFAULT '[]' NOT NULL,
	"monitor" boolean DEFAULT false NOT NULL,
	"admin" boolean DEFAULT false NOT NULL,
	"publish_rate" integer,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	"last_used_at" bigint
);
--> statement-breakpoint
CREATE INDEX "audit_log_at" ON "audit_log" USING btree ("at");--> statement-breakpoint
CREATE UNIQUE INDEX "credentials_token_hash_unique" ON "credentials" USING btree ("token_hash");