ALTER TABLE "transfers" ADD COLUMN "spends" jsonb;--> statement-breakpoint
ALTER TABLE "transfers" ADD COLUMN "fate" text;--> statement-breakpoint
ALTER TABLE "transfers" ADD COLUMN "fate_by" text;