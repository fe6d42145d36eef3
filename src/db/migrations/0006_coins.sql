CREATE TABLE "coins" (
	"chain" text NOT NULL,
	"txid" text NOT NULL,
	"vout" integer NOT NULL,
	"amount" numeric(78, 0) NOT NULL,
	"script" text NOT NULL,
	"address" text NOT NULL,
	"path" text NOT NULL,
	"role" text NOT NULL,
	"status" text DEFAULT 'available' NOT NULL,
	"locked_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "coins_chain_txid_vout_pk" PRIMARY KEY("chain","txid","vout")
);
--> statement-breakpoint
ALTER TABLE "outbound_txs" ADD COLUMN "amounts" jsonb;--> statement-breakpoint
ALTER TABLE "outbound_txs" ADD COLUMN "spends" jsonb;--> statement-breakpoint
ALTER TABLE "outbound_txs" ADD COLUMN "change_vout" integer;--> statement-breakpoint
ALTER TABLE "outbound_txs" ADD COLUMN "change_amount" numeric(78, 0);--> statement-breakpoint
CREATE INDEX "coins_spendable_idx" ON "coins" USING btree ("chain","role","status");--> statement-breakpoint
CREATE INDEX "coins_locked_by_idx" ON "coins" USING btree ("locked_by");