ALTER TABLE "chain_cursors" ADD COLUMN "lease_owner" text;--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "lease_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "amount_tolerance" numeric(78, 0) DEFAULT 0 NOT NULL;