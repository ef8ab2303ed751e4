-- posdiag hub, schema version 1. One SQL for SQLite and PostgreSQL: the
-- types are ones both read alike (BYTEA is a blob to SQLite, BIGINT an
-- integer). Every table a terminal writes is keyed by the terminal id
-- first: the distribution key when the tables are spread over Citus
-- workers (docs/hub.md). Times are Unix seconds.

-- Terminals the hub accepts uploads from. upload_key: hex, the HMAC key
-- (the hub must hold it to check signatures). info: the newest terminal
-- item (CBOR) a technician's upload carried.
CREATE TABLE terminals (
    terminal TEXT NOT NULL PRIMARY KEY,
    upload_key TEXT NOT NULL,
    merchant TEXT,
    created BIGINT NOT NULL,
    info BYTEA
);

-- Diagnostics records, exactly as the terminal encoded them, with the
-- columns a query wants without decoding: trigger, the record's time, the
-- top cause's id (NULL: healthy).
CREATE TABLE records (
    terminal TEXT NOT NULL,
    seq BIGINT NOT NULL,
    raw BYTEA NOT NULL,
    received BIGINT NOT NULL,
    trigger_id INTEGER NOT NULL,
    rec_time BIGINT,
    top_cause TEXT,
    PRIMARY KEY (terminal, seq)
);

-- Receipts from the terminal's journal. entry: the journal entry as CBOR
-- without its token and link (those are the capability: a copy of the
-- database does not open any receipt page); url_base: the link before the
-- token.
CREATE TABLE receipts (
    terminal TEXT NOT NULL,
    journal_seq BIGINT NOT NULL,
    token_hash TEXT,
    entry BYTEA NOT NULL,
    url_base TEXT,
    expires BIGINT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (terminal, journal_seq)
);

-- The page behind a link: sha256(token) hex -> the receipt. Keyed by the
-- token's hash, so a customer's request reads one row (on Citus: one shard).
CREATE TABLE links (
    token_hash TEXT NOT NULL PRIMARY KEY,
    terminal TEXT NOT NULL,
    journal_seq BIGINT NOT NULL,
    expires BIGINT NOT NULL
);

-- Nonces of signed requests, kept while a replay would still be on time.
CREATE TABLE nonces (
    terminal TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen BIGINT NOT NULL,
    PRIMARY KEY (terminal, nonce)
);

-- Operators' bearer tokens, stored as sha256 hex only.
CREATE TABLE operators (
    name TEXT NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL
);
