CREATE TABLE `schedules` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`topic` text NOT NULL,
	`payload` text NOT NULL,
	`metadata` text DEFAULT '{}' NOT NULL,
	`ttl` integer DEFAULT 0 NOT NULL,
	`ordering_key` text,
	`message_id` text,
	`cron` text,
	`every_ms` integer,
	`timezone` text DEFAULT 'UTC' NOT NULL,
	`start_at` integer,
	`end_at` integer,
	`next_at` integer,
	`firing_at` integer,
	`last_at` integer,
	`fires` integer DEFAULT 0 NOT NULL,
	`missed` integer DEFAULT 0 NOT NULL,
	`paused` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `schedules_message_id_unique` ON `schedules` (`message_id`) WHERE message_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `schedules_due` ON `schedules` (`next_at`) WHERE paused = 0 AND next_at IS NOT NULL;--> statement-breakpoint
CREATE INDEX `schedules_firing` ON `schedules` (`firing_at`) WHERE firing_at IS NOT NULL;--> statement-breakpoint
ALTER TABLE `consumers` ADD `backoff_ms` text;