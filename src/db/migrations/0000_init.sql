CREATE TABLE "address_pool" (
	"wallet_id" text NOT NULL,
	"derivation_index" integer NOT NULL,
	"address" text NOT NULL,
	CONSTRAINT "address_pool_wallet_id_derivation_index_pk" PRIMARY KEY("wallet_id","derivation_index")
);
--> statement-breakpoint
CREATE TABLE "addresses" (
	"id" text PRIMARY KEY NOT NULL,
	"wallet_id" text NOT NULL,
	"chain" text NOT NULL,
	"derivation_index" integer NOT NULL,
	"path" text NOT NULL,
	"address" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "addresses_wallet_index_uq" UNIQUE("wallet_id","derivation_index"),
	CONSTRAINT "addresses_chain_address_uq" UNIQUE("chain","address")
);
--> statement-breakpoint
CREATE TABLE "wallets" (
	"id" text PRIMARY KEY NOT NULL,
	"chain" text NOT NULL,
	"purpose" text NOT NULL,
	"account_path" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "wallets_chain_purpose_uq" UNIQUE("chain","purpose")
);
--> statement-breakpoint
CREATE TABLE "block_refs" (
	"chain" text NOT NULL,
	"height" numeric(20, 0) NOT NULL,
	"hash" text NOT NULL,
	"parent_hash" text NOT NULL,
	"time" integer NOT NULL,
	CONSTRAINT "block_refs_chain_height_pk" PRIMARY KEY("chain","height")
);
--> statement-breakpoint
CREATE TABLE "chain_cursors" (
	"chain" text PRIMARY KEY NOT NULL,
	"height" numeric(20, 0) NOT NULL,
	"hash" text NOT NULL,
	"halted_reason" text,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "transfers" (
	"id" text PRIMARY KEY NOT NULL,
	"chain" text NOT NULL,
	"tx_hash" text NOT NULL,
	"idx" integer NOT NULL,
	"asset" text NOT NULL,
	"to_address" text NOT NULL,
	"from_address" text,
	"amount" numeric(78, 0) NOT NULL,
	"block_height" numeric(20, 0),
	"block_hash" text,
	"payment_id" text,
	"status" text DEFAULT 'seen' NOT NULL,
	"late" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "transfers_identity_uq" UNIQUE("chain","tx_hash","idx")
);
--> statement-breakpoint
CREATE TABLE "ledger_postings" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"merchant_id" text,
	"chain" text NOT NULL,
	"asset" text NOT NULL,
	"account" text NOT NULL,
	"amount" numeric(78, 0) NOT NULL,
	"ref_type" text NOT NULL,
	"ref_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_ref_account_uq" UNIQUE("ref_type","ref_id","account")
);
--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"name" text DEFAULT 'default' NOT NULL,
	"prefix" text NOT NULL,
	"secret_hash" text NOT NULL,
	"scopes" text[] DEFAULT '{}'::text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_prefix_unique" UNIQUE("prefix")
);
--> statement-breakpoint
CREATE TABLE "merchants" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "payment_events" (
	"payment_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"from_status" text,
	"to_status" text NOT NULL,
	"data" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "payment_events_payment_id_seq_pk" PRIMARY KEY("payment_id","seq")
);
--> statement-breakpoint
CREATE TABLE "payments" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"chain" text NOT NULL,
	"asset" text NOT NULL,
	"amount_due" numeric(78, 0) NOT NULL,
	"amount_received" numeric(78, 0) DEFAULT 0 NOT NULL,
	"amount_tolerance" numeric(78, 0) DEFAULT 0 NOT NULL,
	"amount_confirmed" numeric(78, 0) DEFAULT 0 NOT NULL,
	"status" text DEFAULT 'PENDING' NOT NULL,
	"address" text NOT NULL,
	"wallet_id" text NOT NULL,
	"derivation_index" integer NOT NULL,
	"confirmations_required" integer NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"order_id" text,
	"metadata" jsonb,
	"idempotency_key" text,
	"request_hash" text,
	"client_secret" text NOT NULL,
	"event_seq" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "addresses" ADD CONSTRAINT "addresses_wallet_id_wallets_id_fk" FOREIGN KEY ("wallet_id") REFERENCES "public"."wallets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_merchant_id_merchants_id_fk" FOREIGN KEY ("merchant_id") REFERENCES "public"."merchants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "payment_events" ADD CONSTRAINT "payment_events_payment_id_payments_id_fk" FOREIGN KEY ("payment_id") REFERENCES "public"."payments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "transfers_payment_idx" ON "transfers" USING btree ("payment_id");--> statement-breakpoint
CREATE INDEX "transfers_chain_height_idx" ON "transfers" USING btree ("chain","block_height");--> statement-breakpoint
CREATE INDEX "ledger_merchant_asset_idx" ON "ledger_postings" USING btree ("merchant_id","chain","asset");--> statement-breakpoint
CREATE INDEX "api_keys_merchant_idx" ON "api_keys" USING btree ("merchant_id");--> statement-breakpoint
CREATE UNIQUE INDEX "payments_merchant_idempotency_uq" ON "payments" USING btree ("merchant_id","idempotency_key") WHERE "payments"."idempotency_key" is not null;--> statement-breakpoint
CREATE INDEX "payments_merchant_id_idx" ON "payments" USING btree ("merchant_id","id");--> statement-breakpoint
CREATE INDEX "payments_chain_open_idx" ON "payments" USING btree ("chain","status");--> statement-breakpoint
CREATE INDEX "payments_merchant_order_idx" ON "payments" USING btree ("merchant_id","order_id") WHERE "payments"."order_id" is not null;