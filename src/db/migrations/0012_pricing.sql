CREATE TABLE "rates" (
	"base" text NOT NULL,
	"quote" text NOT NULL,
	"rate" numeric NOT NULL,
	"method" text NOT NULL,
	"sources" jsonb NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rates_base_quote_pk" PRIMARY KEY("base","quote")
);
--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "price_amount" numeric;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "price_currency" text;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "rate" numeric;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "rate_sources" jsonb;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "rate_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "rate_locked_until" timestamp with time zone;