"""The SQLite schema, as an ordered list of migrations (PRAGMA user_version = how many ran)."""

MIGRATIONS: list[str] = [
    # 1: the archive, installations, instance reports, settings
    """
    CREATE TABLE pings (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL,
        hostname TEXT NOT NULL,
        recorded_at TEXT NOT NULL,          -- canonical UTC text, part of the duplicate key
        received_at TEXT NOT NULL,          -- canonical UTC text; its month is the ping's month
        month TEXT NOT NULL,                -- YYYY-MM of received_at
        version TEXT,
        edition TEXT,
        source TEXT NOT NULL,               -- http | import
        status TEXT NOT NULL DEFAULT 'queued'
            CHECK (status IN ('queued', 'processed', 'failed')),
        enqueued_at TEXT,                   -- NULL: archived but never handed to Redis
        processed_at TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        payload_bytes INTEGER NOT NULL,     -- size of the uncompressed body
        UNIQUE (uuid, hostname, recorded_at)
    );
    CREATE INDEX pings_by_status ON pings (status, received_at);
    CREATE INDEX pings_by_installation_month ON pings (uuid, hostname, month, received_at, id);
    CREATE INDEX pings_by_month ON pings (month);

    -- kept apart from pings so scans of ping metadata never read the bodies
    CREATE TABLE ping_payloads (
        ping_id INTEGER PRIMARY KEY REFERENCES pings (id),
        body BLOB NOT NULL                  -- zlib-compressed raw JSON as received
    );

    CREATE TABLE installations (
        id INTEGER PRIMARY KEY,
        uuid TEXT NOT NULL,
        hostname TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        last_ping_id INTEGER NOT NULL REFERENCES pings (id),
        version TEXT,
        edition TEXT,
        tier TEXT NOT NULL,
        deployment TEXT NOT NULL,
        installation_type TEXT,
        active_user_count INTEGER,
        unique_instance_id TEXT,
        UNIQUE (uuid, hostname)
    );

    CREATE TABLE instance_errors (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        uuid TEXT,
        unique_instance_id TEXT,
        hostname TEXT,
        version TEXT,
        message TEXT NOT NULL,
        elapsed REAL,
        reported_time TEXT
    );
    CREATE INDEX instance_errors_by_time ON instance_errors (received_at);

    CREATE TABLE instance_metadata (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        uuid TEXT NOT NULL,
        unique_instance_id TEXT,
        metric_count INTEGER NOT NULL
    );
    CREATE TABLE instance_metric_timings (
        metadata_id INTEGER NOT NULL REFERENCES instance_metadata (id),
        name TEXT NOT NULL,
        time_elapsed REAL,
        error TEXT
    );
    CREATE INDEX instance_metric_timings_by_metadata ON instance_metric_timings (metadata_id);

    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
]
