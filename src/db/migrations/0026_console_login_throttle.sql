CREATE TABLE "console_login_throttle" (
	"email_hash" text PRIMARY KEY NOT NULL,
	"failed_logins" integer DEFAULT 0 NOT NULL,
	"locked_until" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "payments_merchant_address_idx" ON "payments" USING btree ("merchant_id","address");--> statement-breakpoint
ALTER TABLE "console_users" DROP COLUMN "failed_logins";--> statement-breakpoint
ALTER TABLE "console_users" DROP COLUMN "locked_until";