-- Custom migration (drizzle-kit cannot express WITHOUT ROWID): processed_messages is written once per ack,
-- and keyed by (consumer, seq) alone it needs one B-tree instead of a rowid table plus its key index.
CREATE TABLE `processed_messages_new` (
	`consumer` text NOT NULL,
	`seq` integer NOT NULL,
	`processed_at` integer NOT NULL,
	`delivery` integer DEFAULT 1 NOT NULL,
	PRIMARY KEY(`consumer`, `seq`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `processed_messages_new` SELECT `consumer`, `seq`, `processed_at`, `delivery` FROM `processed_messages`;
--> statement-breakpoint
DROP TABLE `processed_messages`;
--> statement-breakpoint
ALTER TABLE `processed_messages_new` RENAME TO `processed_messages`;
