DROP INDEX `schedules_firing`;--> statement-breakpoint
ALTER TABLE `schedules` DROP COLUMN `firing_at`;