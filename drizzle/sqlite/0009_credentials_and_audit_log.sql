CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`credential` text,
	`peer` text NOT NULL,
	`action` text NOT NULL,
	`target` text,
	`outcome` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_log_at` ON `audit_log` (`at`);--> statement-breakpoint
CREATE TABLE `credentials` (
	`name` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`publish` text DEFAULT '[]' NOT NULL,
	`subscribe` text DEFAULT '[]' NOT NULL,
	`consumers` text DEFAULT '[]' NOT NULL,
	`monitor` integer DEFAULT false NOT NULL,
	`admin` integer DEFAULT false NOT NULL,
	`publish_rate` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`last_used_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `credentials_token_hash_unique` ON `credentials` (`token_hash`);