ALTER TABLE "chain_cursors" ADD COLUMN "cost_blocks" integer;--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "cost_calls" integer;--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "cost_bytes" bigint;