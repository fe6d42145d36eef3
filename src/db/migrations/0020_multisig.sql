CREATE TABLE "multisig_events" (
	"proposal_id" text NOT NULL,
	"merchant_id" text NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"data" jsonb,
	"dispatched" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "multisig_events_proposal_id_seq_pk" PRIMARY KEY("proposal_id","seq")
);
--> statement-breakpoint
CREATE TABLE "multisig_proposals" (
	"id" text PRIMARY KEY NOT NULL,
	"merchant_id" text NOT NULL,
	"chain" text NOT NULL,
	"asset" text NOT NULL,
	"wallet" text NOT NULL,
	"to_address" text NOT NULL,
	"amount" numeric(78, 0) NOT NULL,
	"destination" text NOT NULL,
	"payload" jsonb NOT NULL,
	"to_sign" text NOT NULL,
	"threshold" integer NOT NULL,
	"signers" text[] DEFAULT '{}'::text[] NOT NULL,
	"status" text NOT NULL,
	"spends" jsonb,
	"outbound_tx_id" text,
	"failure_reason" text,
	"idempotency_key" text NOT NULL,
	"request_hash" text NOT NULL,
	"proposed_by" text NOT NULL,
	"event_seq" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "multisig_events" ADD CONSTRAINT "multisig_events_proposal_id_multisig_proposals_id_fk" FOREIGN KEY ("proposal_id") REFERENCES "public"."multisig_proposals"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "multisig_events_undispatched_idx" ON "multisig_events" USING btree ("created_at") WHERE not "multisig_events"."dispatched";--> statement-breakpoint
CREATE UNIQUE INDEX "multisig_proposals_idempotency_uq" ON "multisig_proposals" USING btree ("merchant_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "multisig_proposals_open_idx" ON "multisig_proposals" USING btree ("chain","status");