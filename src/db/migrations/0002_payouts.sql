CREATE TABLE "outbound_txs" (
	"id" text PRIMARY KEY NOT NULL,
	"chain" text NOT NULL,
	"purpose" text NOT NULL,
	"from_address" text NOT NULL,
	"from_path" text NOT NULL,
	"asset" text NOT NULL,
	"nonce" bigint,
	"status" text NOT NULL,
	"unsigned" jsonb NOT NULL,
	"max_fee" numeric(78, 0) NOT NULL,
	"raw" text,
	"hash" text,
	"fee" numeric(78, 0),
	"block_height" bigint,
	"broadcast_height" bigint,
	"replaces" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sender_nonces" (
	"chain" text NOT NULL,
	"address" text NOT NULL,
	"next" bigint NOT NULL,
	CONSTRAINT "sender_nonces_chain_address_pk" PRIMARY KEY("chain","address")
);
--> statement-breakpoint
CREATE TABLE "withdrawal_events" (
	"withdrawal_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"from_status" text,
	"to_status" text NOT NULL,
	"data" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "withdrawal_events_withdrawal_id_seq_pk" PRIMARY KEY("withdrawal_id","seq")
);
--> statement-breakpoint
CREATE TABLE "withdrawals" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"chain" text NOT NULL,
	"asset" text NOT NULL,
	"to_address" text NOT NULL,
	"amount" numeric(78, 0) NOT NULL,
	"status" text NOT NULL,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"outbound_tx_id" text,
	"network_fee" numeric(78, 0),
	"failure_reason" text,
	"approved_by_key" text,
	"event_seq" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "withdrawal_events" ADD CONSTRAINT "withdrawal_events_withdrawal_id_withdrawals_id_fk" FOREIGN KEY ("withdrawal_id") REFERENCES "public"."withdrawals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "outbound_live_nonce_uq" ON "outbound_txs" USING btree ("chain","from_address","nonce") WHERE "outbound_txs"."status" <> 'replaced' and "outbound_txs"."nonce" is not null;--> statement-breakpoint
CREATE INDEX "outbound_open_idx" ON "outbound_txs" USING btree ("chain","status");--> statement-breakpoint
CREATE UNIQUE INDEX "outbound_hash_uq" ON "outbound_txs" USING btree ("chain","hash") WHERE "outbound_txs"."hash" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "withdrawals_merchant_idempotency_uq" ON "withdrawals" USING btree ("merchant_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "withdrawals_merchant_id_idx" ON "withdrawals" USING btree ("merchant_id","id");--> statement-breakpoint
CREATE INDEX "withdrawals_queue_idx" ON "withdrawals" USING btree ("chain","asset","status","created_at");