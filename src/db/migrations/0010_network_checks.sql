CREATE TABLE "chain_networks" (
	"chain" text PRIMARY KEY NOT NULL,
	"expected" text,
	"actual" text,
	"checked_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
-- Deposit wallets of chains that share an account path (every EVM chain) used to derive their indexes each from 0,
-- so their free pools hold addresses another chain already handed out. Free addresses whose index another deposit
-- wallet of the same account path has derived are dropped; the pool refills above every index used on that path.
DELETE FROM "address_pool" p
USING "wallets" w
WHERE w."id" = p."wallet_id"
  AND EXISTS (
    SELECT 1 FROM "addresses" a
    JOIN "wallets" o ON o."id" = a."wallet_id"
    WHERE o."purpose" = 'deposit' AND o."account_path" = w."account_path" AND o."id" <> w."id"
      AND a."derivation_index" = p."derivation_index"
  );
