CREATE TABLE `delivery_failures` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`consumer` text NOT NULL,
	`address` text NOT NULL,
	`seq` integer,
	`attempt` integer NOT NULL,
	`failed_at` integer NOT NULL,
	`latency_ms` integer NOT NULL,
	`error` text NOT NULL,
	`http_status` integer
);
--> statement-breakpoint
CREATE INDEX `delivery_failures_consumer_failed_at` ON `delivery_failures` (`consumer`,`failed_at`);