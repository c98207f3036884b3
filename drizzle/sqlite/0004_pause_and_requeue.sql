CREATE TABLE `requeued_messages` (
	`consumer` text NOT NULL,
	`seq` integer NOT NULL,
	`requeued_at` integer NOT NULL,
	PRIMARY KEY(`consumer`, `seq`)
);
--> statement-breakpoint
ALTER TABLE `consumers` ADD `paused` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `consumers` ADD `pause_changed_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `dead_letters_seq` ON `dead_letters` (`seq`);