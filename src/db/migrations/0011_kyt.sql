CREATE TABLE "kyt_checks" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"subject_type" text NOT NULL,
	"subject_id" text NOT NULL,
	"payment_id" text,
	"chain" text NOT NULL,
	"direction" text NOT NULL,
	"addresses" jsonb NOT NULL,
	"asset" text NOT NULL,
	"amount" numeric(78, 0) NOT NULL,
	"tx_hash" text,
	"state" text NOT NULL,
	"verdict" text,
	"reason" text,
	"fail_mode" text,
	"answers" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"versions" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"decided_by" text,
	"decided_at" timestamp with time zone,
	"note" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"screened_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "merchants" ADD COLUMN "kyt_policy" jsonb;--> statement-breakpoint
CREATE UNIQUE INDEX "kyt_checks_subject_uq" ON "kyt_checks" USING btree ("subject_type","subject_id");--> statement-breakpoint
CREATE INDEX "kyt_checks_merchant_idx" ON "kyt_checks" USING btree ("merchant_id","id");--> statement-breakpoint
CREATE INDEX "kyt_checks_payment_idx" ON "kyt_checks" USING btree ("payment_id");--> statement-breakpoint
CREATE INDEX "kyt_checks_due_idx" ON "kyt_checks" USING btree ("next_attempt_at") WHERE "kyt_checks"."state" = 'pending';--> statement-breakpoint
CREATE INDEX "kyt_checks_created_idx" ON "kyt_checks" USING btree ("created_at");