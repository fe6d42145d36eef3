ALTER TABLE "outbound_txs" ADD COLUMN "request" jsonb;--> statement-breakpoint
ALTER TABLE "outbound_txs" ADD COLUMN "amount" numeric(78, 0);