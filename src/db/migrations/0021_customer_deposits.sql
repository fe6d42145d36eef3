CREATE TABLE "customer_addresses" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"customer_id" text NOT NULL,
	"chain" text NOT NULL,
	"asset" text NOT NULL,
	"mode" text NOT NULL,
	"wallet_id" text NOT NULL,
	"derivation_index" integer NOT NULL,
	"address" text NOT NULL,
	"address_key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "customer_addresses_slot_uq" UNIQUE("customer_id","chain","asset"),
	CONSTRAINT "customer_addresses_key_uq" UNIQUE("chain","address_key")
);
--> statement-breakpoint
CREATE TABLE "customers" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"external_id" text NOT NULL,
	"address_mode" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "customers_merchant_external_uq" UNIQUE("merchant_id","external_id")
);
--> statement-breakpoint
CREATE TABLE "deposit_events" (
	"deposit_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"data" jsonb,
	"dispatched" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "deposit_events_deposit_id_seq_pk" PRIMARY KEY("deposit_id","seq")
);
--> statement-breakpoint
CREATE TABLE "deposits" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"customer_id" text NOT NULL,
	"customer_address_id" text NOT NULL,
	"transfer_id" text NOT NULL,
	"chain" text NOT NULL,
	"asset" text NOT NULL,
	"amount" numeric(78, 0) NOT NULL,
	"tx_hash" text NOT NULL,
	"idx" integer NOT NULL,
	"block_height" numeric(20, 0),
	"status" text DEFAULT 'SEEN' NOT NULL,
	"confirmations_required" integer NOT NULL,
	"below_minimum" boolean DEFAULT false NOT NULL,
	"credited" numeric(78, 0) DEFAULT 0 NOT NULL,
	"sweep_id" text,
	"event_seq" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"confirmed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "sweeps" ALTER COLUMN "payment_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "merchants" ADD COLUMN "deposit_address_mode" text DEFAULT 'common' NOT NULL;--> statement-breakpoint
ALTER TABLE "merchants" ADD COLUMN "deposit_minimums" jsonb;--> statement-breakpoint
ALTER TABLE "sweeps" ADD COLUMN "customer_address_id" text;--> statement-breakpoint
ALTER TABLE "customer_addresses" ADD CONSTRAINT "customer_addresses_customer_id_customers_id_fk" FOREIGN KEY ("customer_id") REFERENCES "public"."customers"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "deposit_events" ADD CONSTRAINT "deposit_events_deposit_id_deposits_id_fk" FOREIGN KEY ("deposit_id") REFERENCES "public"."deposits"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "customer_addresses_chain_created_idx" ON "customer_addresses" USING btree ("chain","created_at");--> statement-breakpoint
CREATE INDEX "deposit_events_undispatched_idx" ON "deposit_events" USING btree ("created_at") WHERE not "deposit_events"."dispatched";--> statement-breakpoint
CREATE UNIQUE INDEX "deposits_transfer_uq" ON "deposits" USING btree ("transfer_id");--> statement-breakpoint
CREATE INDEX "deposits_merchant_idx" ON "deposits" USING btree ("merchant_id","id");--> statement-breakpoint
CREATE INDEX "deposits_customer_idx" ON "deposits" USING btree ("customer_id","id");--> statement-breakpoint
CREATE INDEX "deposits_open_idx" ON "deposits" USING btree ("chain","status") WHERE "deposits"."status" in ('SEEN', 'HELD');--> statement-breakpoint
CREATE INDEX "deposits_unswept_idx" ON "deposits" USING btree ("customer_address_id") WHERE "deposits"."sweep_id" is null and "deposits"."status" = 'CONFIRMED';--> statement-breakpoint
CREATE UNIQUE INDEX "sweeps_customer_open_uq" ON "sweeps" USING btree ("customer_address_id","chain","asset") WHERE "sweeps"."customer_address_id" is not null and "sweeps"."status" not in ('done', 'skipped');