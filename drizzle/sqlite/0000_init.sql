CREATE TABLE `consumers` (
	`id` text PRIMARY KEY NOT NULL,
	`address` text,
	`patterns` text DEFAULT '[]' NOT NULL,
	`position` integer DEFAULT 0 NOT NULL,
	`filter` text,
	`rewound_at` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `dead_letters` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`consumer` text NOT NULL,
	`seq` integer NOT NULL,
	`topic` text NOT NULL,
	`payload` text NOT NULL,
	`metadata` text NOT NULL,
	`reason` text NOT NULL,
	`deliveries` integer NOT NULL,
	`dead_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dead_letters_consumer_seq` ON `dead_letters` (`consumer`,`seq`);--> statement-breakpoint
CREATE TABLE `messages` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`message_id` text,
	`topic` text NOT NULL,
	`payload` text NOT NULL,
	`metadata` text DEFAULT '{}' NOT NULL,
	`ttl` integer DEFAULT 0 NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`ordering_key` text,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `messages_message_id_unique` ON `messages` (`message_id`) WHERE message_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `messages_topic_seq` ON `messages` (`topic`,`seq`);--> statement-breakpoint
CREATE INDEX `messages_expires_at` ON `messages` (created_at + ttl * 1000) WHERE ttl > 0;--> statement-breakpoint
CREATE TABLE `processed_messages` (
	`consumer` text NOT NULL,
	`seq` integer NOT NULL,
	`processed_at` integer NOT NULL,
	`delivery` integer DEFAULT 1 NOT NULL,
	PRIMARY KEY(`consumer`, `seq`)
);
