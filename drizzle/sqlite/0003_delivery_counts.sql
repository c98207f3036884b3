-- WITHOUT ROWID added by hand (drizzle-kit cannot express it), as for processed_messages: keyed by
-- (consumer, seq) alone, one B-tree instead of a rowid table plus its key index.
CREATE TABLE `delivery_counts` (
	`consumer` text NOT NULL,
	`seq` integer NOT NULL,
	`deliveries` integer NOT NULL,
	PRIMARY KEY(`consumer`, `seq`)
) WITHOUT ROWID;
