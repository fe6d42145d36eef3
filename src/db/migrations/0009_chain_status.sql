CREATE TABLE "payout_passes" (
	"chain" text PRIMARY KEY NOT NULL,
	"finished_at" timestamp with time zone NOT NULL,
	"duration_ms" integer NOT NULL,
	"failed_stages" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"failed_steps" integer DEFAULT 0 NOT NULL,
	"last_error_code" text,
	"last_error_stage" text,
	"last_error_at" timestamp with time zone,
	"failing_passes" integer DEFAULT 0 NOT NULL,
	"failing_since" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "tip_height" numeric(20, 0);--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "tip_changed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "last_scan_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "last_error_code" text;--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "last_error_kind" text;--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "last_error_stage" text;--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "last_error_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "failed_runs" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "chain_cursors" ADD COLUMN "failing_since" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "withdrawals_open_idx" ON "withdrawals" USING btree ("chain","status","created_at") WHERE "withdrawals"."status" in ('QUEUED', 'BATCHED', 'BROADCAST');