CREATE TABLE "reconciliation_runs" (
	"chain" text PRIMARY KEY NOT NULL,
	"checked_at" timestamp with time zone,
	"settled" boolean,
	"lines_checked" integer DEFAULT 0 NOT NULL,
	"discrepancies" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"funding" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"last_error_code" text,
	"last_error_at" timestamp with time zone,
	"failed_runs" integer DEFAULT 0 NOT NULL
);
