CREATE TABLE "refund_events" (
	"refund_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"data" jsonb,
	"dispatched" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "refund_events_refund_id_seq_pk" PRIMARY KEY("refund_id","seq")
);
--> statement-breakpoint
CREATE TABLE "refunds" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"payment_id" text NOT NULL,
	"chain" text NOT NULL,
	"asset" text NOT NULL,
	"amount" numeric(78, 0) NOT NULL,
	"source" text NOT NULL,
	"overpayment" boolean DEFAULT false NOT NULL,
	"fee_paid_by" text NOT NULL,
	"to_address" text,
	"status" text NOT NULL,
	"withdrawal_id" text,
	"link_secret" text,
	"reason" text,
	"failure_reason" text,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"requested_by_key" text,
	"event_seq" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "merchants" ADD COLUMN "refund_fee" text DEFAULT 'MERCHANT' NOT NULL;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "resolution" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "resolved_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "withdrawals" ADD COLUMN "refund_id" text;--> statement-breakpoint
ALTER TABLE "withdrawals" ADD COLUMN "funded_from" text DEFAULT 'balance' NOT NULL;--> statement-breakpoint
ALTER TABLE "withdrawals" ADD COLUMN "fee_from_amount" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "withdrawals" ADD COLUMN "amount_sent" numeric(78, 0);--> statement-breakpoint
ALTER TABLE "refund_events" ADD CONSTRAINT "refund_events_refund_id_refunds_id_fk" FOREIGN KEY ("refund_id") REFERENCES "public"."refunds"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "refunds" ADD CONSTRAINT "refunds_payment_id_payments_id_fk" FOREIGN KEY ("payment_id") REFERENCES "public"."payments"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "refund_events_undispatched_idx" ON "refund_events" USING btree ("created_at") WHERE not "refund_events"."dispatched";--> statement-breakpoint
CREATE UNIQUE INDEX "refunds_merchant_idempotency_uq" ON "refunds" USING btree ("merchant_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "refunds_payment_idx" ON "refunds" USING btree ("payment_id");--> statement-breakpoint
CREATE INDEX "refunds_merchant_id_idx" ON "refunds" USING btree ("merchant_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "withdrawals_refund_uq" ON "withdrawals" USING btree ("refund_id") WHERE "withdrawals"."refund_id" is not null;