ALTER TABLE `consumers` ADD `ack_timeout_ms` integer;--> statement-breakpoint
ALTER TABLE `consumers` ADD `max_deliveries` integer;--> statement-breakpoint
ALTER TABLE `consumers` ADD `max_in_flight` integer;