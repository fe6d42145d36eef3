CREATE TABLE "invoice_events" (
	"invoice_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"from_status" text,
	"to_status" text NOT NULL,
	"data" jsonb,
	"dispatched" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "invoice_events_invoice_id_seq_pk" PRIMARY KEY("invoice_id","seq")
);
--> statement-breakpoint
CREATE TABLE "invoices" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"status" text DEFAULT 'PENDING' NOT NULL,
	"price_amount" numeric NOT NULL,
	"price_currency" text NOT NULL,
	"price_tolerance" numeric NOT NULL,
	"methods" jsonb NOT NULL,
	"rate_locked_until" timestamp with time zone NOT NULL,
	"amount_received_fiat" numeric DEFAULT 0 NOT NULL,
	"amount_confirmed_fiat" numeric DEFAULT 0 NOT NULL,
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
ALTER TABLE "payments" ADD COLUMN "invoice_id" text;--> statement-breakpoint
ALTER TABLE "invoice_events" ADD CONSTRAINT "invoice_events_invoice_id_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "public"."invoices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "invoice_events_undispatched_idx" ON "invoice_events" USING btree ("created_at") WHERE not "invoice_events"."dispatched";--> statement-breakpoint
CREATE UNIQUE INDEX "invoices_merchant_idempotency_uq" ON "invoices" USING btree ("merchant_id","idempotency_key") WHERE "invoices"."idempotency_key" is not null;--> statement-breakpoint
CREATE INDEX "invoices_merchant_id_idx" ON "invoices" USING btree ("merchant_id","id");--> statement-breakpoint
CREATE INDEX "invoices_open_idx" ON "invoices" USING btree ("status","expires_at");--> statement-breakpoint
CREATE INDEX "invoices_merchant_order_idx" ON "invoices" USING btree ("merchant_id","order_id") WHERE "invoices"."order_id" is not null;--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_invoice_id_invoices_id_fk" FOREIGN KEY ("invoice_id") REFERENCES "public"."invoices"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "payments_invoice_method_uq" ON "payments" USING btree ("invoice_id","chain","asset") WHERE "payments"."invoice_id" is not null;