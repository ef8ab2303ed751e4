-- posdiag hub, schema version 2: the fleet view's summaries (docs/fleet.md),
-- kept current at ingest (host_tools/fleet/summary.py) so that a page reads
-- a handful of rows, never the records. Keyed by terminal id first where a
-- terminal writes them (the Citus distribution key); cause_days, settings
-- and alerts are fleet-wide (small; on Citus, reference tables).

-- One row per terminal that uploaded: its light, newest record, counts and
-- the points the paper forecast and the service list rest on.
CREATE TABLE terminal_state (
    terminal TEXT NOT NULL PRIMARY KEY,
    merchant TEXT,
    model TEXT NOT NULL,
    firmware TEXT,
    last_seen BIGINT NOT NULL,      -- hub time of the newest upload
    last_seq BIGINT NOT NULL,
    last_time BIGINT,               -- the newest record's own time
    light TEXT NOT NULL,            -- fault / warning / healthy
    top_cause TEXT,
    category TEXT,
    records BIGINT NOT NULL,
    operator_events BIGINT NOT NULL,
    p0_time BIGINT,                 -- oldest scheduled record with counters
    p0_mm BIGINT,
    p1_time BIGINT,                 -- newest one
    p1_mm BIGINT,
    roll_change BIGINT,             -- newest paper-out
    roll_time BIGINT,               -- the first scheduled record at or after it
    roll_mm BIGINT,                 -- its paper counter: where that roll started
    head_mm BIGINT,
    cuts BIGINT,                    -- the terminal's own cut count
    printer_cuts BIGINT,            -- the printer's (GS g 2), when it answers
    overheats BIGINT NOT NULL,
    power_events BIGINT NOT NULL,
    silences BIGINT NOT NULL,       -- times the printer went silent (runs of printer-no-response, seq order)
    silent_now INTEGER NOT NULL,    -- the newest printer check was silent
    pending_receipts BIGINT,
    runs_out BIGINT,                -- the paper forecast's day, for sorting and alerts
    service_urgency DOUBLE PRECISION -- the highest service reason's score, NULL with no reason (sorting)
);
CREATE INDEX terminal_state_light ON terminal_state (light, terminal);
CREATE INDEX terminal_state_seen ON terminal_state (last_seen);
CREATE INDEX terminal_state_runs_out ON terminal_state (runs_out);
CREATE INDEX terminal_state_service ON terminal_state (service_urgency DESC, terminal);

-- Records per terminal and cause (the training and service lists).
CREATE TABLE terminal_causes (
    terminal TEXT NOT NULL,
    cause TEXT NOT NULL,
    records BIGINT NOT NULL,
    last_time BIGINT NOT NULL,
    PRIMARY KEY (terminal, cause)
);

-- Which causes a terminal showed on which day: a first row for (terminal,
-- day, cause) counts the terminal once in cause_days.terminals.
CREATE TABLE terminal_days (
    terminal TEXT NOT NULL,
    day TEXT NOT NULL,
    cause TEXT NOT NULL,
    records BIGINT NOT NULL,
    PRIMARY KEY (terminal, day, cause)
);

-- Records and distinct terminals per day, cause, printer model and
-- posdiag firmware: the causes-over-time charts and the spread alert.
CREATE TABLE cause_days (
    day TEXT NOT NULL,
    cause TEXT NOT NULL,
    category TEXT NOT NULL,
    model TEXT NOT NULL,
    firmware TEXT NOT NULL,
    records BIGINT NOT NULL,
    terminals BIGINT NOT NULL,
    PRIMARY KEY (day, cause, model, firmware)
);

-- Thresholds an operator set (posdiag hub --set); absent: the default.
CREATE TABLE fleet_settings (
    name TEXT NOT NULL PRIMARY KEY,
    value DOUBLE PRECISION NOT NULL
);

-- Alerts raised, once each (key: the rule and what it is about), their
-- delivery to the webhook and their acknowledgement.
CREATE TABLE alerts (
    id TEXT NOT NULL PRIMARY KEY,   -- sha256(key), first 16 hex digits
    alert_key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    terminal TEXT,
    model TEXT,
    cause TEXT,
    raised BIGINT NOT NULL,
    detail TEXT NOT NULL,           -- JSON
    delivered BIGINT,               -- when the webhook took it
    tries INTEGER NOT NULL,
    acked_by TEXT,
    acked_at BIGINT
);
CREATE INDEX alerts_raised ON alerts (raised);
