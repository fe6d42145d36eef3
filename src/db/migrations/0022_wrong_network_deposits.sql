ALTER TABLE "deposits" ADD COLUMN "wrong_network" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "deposits" ADD COLUMN "decision" text;