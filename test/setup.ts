// Preloaded by `bun test` (bunfig.toml). Tests talk to the machine's real Postgres and Redis.
process.env.TOLLGATE_ENV ??= 'test'
