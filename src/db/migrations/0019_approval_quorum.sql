CREATE TABLE "withdrawal_approvals" (
	"withdrawal_id" text NOT NULL,
	"key_id" text NOT NULL,
	"key_name" text NOT NULL,
	"approve" boolean NOT NULL,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "withdrawal_approvals_withdrawal_id_key_id_pk" PRIMARY KEY("withdrawal_id","key_id")
);
--> statement-breakpoint
ALTER TABLE "withdrawal_approvals" ADD CONSTRAINT "withdrawal_approvals_withdrawal_id_withdrawals_id_fk" FOREIGN KEY ("withdrawal_id") REFERENCES "public"."withdrawals"("id") ON DELETE no action ON UPDATE no action;