DROP INDEX "sweeps_payment_uq";--> statement-breakpoint
ALTER TABLE "transfers" ADD COLUMN "misdirected_payment_id" text;--> statement-breakpoint
CREATE INDEX "transfers_misdirected_idx" ON "transfers" USING btree ("misdirected_payment_id") WHERE misdirected_payment_id is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "sweeps_payment_uq" ON "sweeps" USING btree ("payment_id","chain","asset");