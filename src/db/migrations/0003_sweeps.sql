CREATE TABLE "sweeps" (
	"id" text PRIMARY KEY NOT NULL,
	"chain" text NOT NULL,
	"payment_id" text NOT NULL,
	"asset" text NOT NULL,
	"from_address" text NOT NULL,
	"from_path" text NOT NULL,
	"status" text NOT NULL,
	"funding_tx_id" text,
	"sweep_tx_id" text,
	"defunding_tx_id" text,
	"amount" numeric(78, 0),
	"need" jsonb,
	"skip_reason" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "sweeps_payment_uq" ON "sweeps" USING btree ("payment_id");--> statement-breakpoint
CREATE INDEX "sweeps_open_idx" ON "sweeps" USING btree ("chain","status");