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

MIGRATIONS.append(
    # 2: the metric dictionary, month snapshots (rules 3-6), rollups (rules 9-12)
    """
    ALTER TABLE pings ADD COLUMN leaves INTEGER;
    ALTER TABLE pings ADD COLUMN unknown_keys INTEGER;
    ALTER TABLE pings ADD COLUMN failures INTEGER;

    -- The dictionary as loaded (`pingtally dictionary load`); ids stay stable across reloads.
    CREATE TABLE metrics (
        id INTEGER PRIMARY KEY,
        key_path TEXT NOT NULL UNIQUE,
        stage TEXT NOT NULL,
        section TEXT,
        product_group TEXT,
        time_frame TEXT NOT NULL,
        value_type TEXT NOT NULL,
        status TEXT,
        active INTEGER NOT NULL,
        activity TEXT NOT NULL,
        indicators TEXT NOT NULL,           -- comma-separated performance_indicator_type
        is_smau INTEGER NOT NULL,
        is_gmau INTEGER NOT NULL,
        is_paid_gmau INTEGER NOT NULL,
        is_umau INTEGER NOT NULL,
        tiers TEXT NOT NULL,
        milestone TEXT,
        description TEXT,
        source TEXT,
        in_dictionary INTEGER NOT NULL DEFAULT 1  -- 0: dropped by a later load (kept for its id)
    );
    CREATE INDEX metrics_by_stage ON metrics (stage);

    -- The installation attributes rollups break down by; a snapshot points at one combination.
    CREATE TABLE combos (
        id INTEGER PRIMARY KEY,
        tier TEXT NOT NULL,
        deployment TEXT NOT NULL,
        edition TEXT NOT NULL,
        version_minor TEXT NOT NULL,
        installation_type TEXT NOT NULL,
        paid INTEGER NOT NULL,
        UNIQUE (tier, deployment, edition, version_minor, installation_type, paid)
    );

    -- Rules 3-4: per installation and month, the month's last ping.
    CREATE TABLE snapshots (
        installation_id INTEGER NOT NULL REFERENCES installations (id),
        month TEXT NOT NULL,
        ping_id INTEGER NOT NULL REFERENCES pings (id),
        received_at TEXT NOT NULL,
        version TEXT,
        version_key TEXT NOT NULL,          -- zero-padded, sorts like the version
        version_minor TEXT NOT NULL,        -- major.minor, for breakdowns
        edition TEXT,
        tier TEXT NOT NULL,
        paid INTEGER NOT NULL,
        deployment TEXT NOT NULL,
        installation_type TEXT,
        combo_id INTEGER NOT NULL REFERENCES combos (id),
        PRIMARY KEY (installation_id, month)
    );
    CREATE INDEX snapshots_by_month ON snapshots (month);

    -- Rules 5-6: valid values of 28d and all-time metrics in that ping, and the monthly value.
    -- Keyed so that one month's rows come grouped by metric and combination and sorted by
    -- monthly value: rollups then aggregate in one ordered pass and find medians by offset.
    CREATE TABLE snapshot_values (
        month TEXT NOT NULL,
        metric_id INTEGER NOT NULL,
        combo_id INTEGER NOT NULL,
        monthly_value NUMERIC NOT NULL,
        installation_id INTEGER NOT NULL,
        value NUMERIC NOT NULL,
        PRIMARY KEY (month, metric_id, combo_id, monthly_value, installation_id)
    ) WITHOUT ROWID;
    -- covering (value included): per-installation reads never touch the table itself
    CREATE INDEX snapshot_values_by_installation ON snapshot_values (installation_id, month, metric_id, value);

    -- Rule 5: values that were not valid, by failure code (-1, -2, -3, -1000, histogram, ...).
    CREATE TABLE snapshot_failures (
        month TEXT NOT NULL,
        metric_id INTEGER NOT NULL,
        installation_id INTEGER NOT NULL,
        combo_id INTEGER NOT NULL,
        code TEXT NOT NULL,
        PRIMARY KEY (month, metric_id, installation_id)
    ) WITHOUT ROWID;
    CREATE INDEX snapshot_failures_by_installation ON snapshot_failures (installation_id, month);

    -- Rule 11: first..last version on which each metric was ever seen valid.
    CREATE TABLE metric_version_ranges (
        metric_id INTEGER PRIMARY KEY,
        min_version_key TEXT NOT NULL,
        max_version_key TEXT NOT NULL
    );

    -- Months whose rollups are older than their snapshots; `mark` grows with every change,
    -- so a refresh only clears the marks it has seen.
    CREATE TABLE dirty_months (
        month TEXT PRIMARY KEY,
        mark INTEGER NOT NULL
    );

    -- Rules 9-12, materialised per month. scope: all | paid. dimension '' = no breakdown.
    CREATE TABLE rollups (
        month TEXT NOT NULL,
        metric_id INTEGER NOT NULL,
        scope TEXT NOT NULL,
        dimension TEXT NOT NULL,
        dim_value TEXT NOT NULL,
        reporting_installations INTEGER NOT NULL,
        active_installations INTEGER NOT NULL,
        using_installations INTEGER NOT NULL,
        failing_installations INTEGER NOT NULL,
        total NUMERIC NOT NULL,
        median NUMERIC,
        PRIMARY KEY (month, scope, dimension, metric_id, dim_value)
    ) WITHOUT ROWID;

    CREATE TABLE rollup_refreshes (
        month TEXT PRIMARY KEY,
        refreshed_at TEXT NOT NULL,
        dictionary_fingerprint TEXT
    );
    """
)

MIGRATIONS.append(
    # 3: views an analyst can open in Datasette or `sqlite-utils query` without reading code
    """
    CREATE VIEW rollup_rows AS
    SELECT r.month, r.scope, r.dimension, r.dim_value,
           m.stage, m.section, m.product_group, m.key_path, m.time_frame, m.activity,
           m.is_smau, m.is_gmau, m.is_paid_gmau, m.is_umau,
           r.total AS recorded,
           r.reporting_installations, r.active_installations, r.using_installations,
           r.failing_installations, r.total, r.median,
           -- rule 11: share of the active installations that reported, and the estimate
           CASE WHEN r.active_installations > 0
                THEN round(1.0 * r.reporting_installations / r.active_installations, 4) END
               AS percent_reporting,
           CASE WHEN r.reporting_installations > 0 AND r.active_installations > 0
                THEN CAST(round(1.0 * r.total * r.active_installations / r.reporting_installations)
                          AS INTEGER) END
               AS estimated_total,
           CASE WHEN r.reporting_installations > 0
                THEN round(1.0 * r.using_installations / r.reporting_installations, 4) END
               AS adoption_rate
    FROM rollups r JOIN metrics m ON m.id = r.metric_id
    WHERE m.in_dictionary;

    CREATE VIEW smau AS
    SELECT month, stage, key_path, recorded, reporting_installations, percent_reporting,
           estimated_total, active_installations, failing_installations
    FROM rollup_rows WHERE is_smau AND scope = 'all' AND dimension = '';

    CREATE VIEW gmau AS
    SELECT month, stage, product_group, key_path, recorded, reporting_installations,
           percent_reporting, estimated_total, active_installations, failing_installations
    FROM rollup_rows WHERE is_gmau AND scope = 'all' AND dimension = '';

    CREATE VIEW paid_gmau AS
    SELECT month, stage, product_group, key_path, recorded, reporting_installations,
           percent_reporting, estimated_total, active_installations, failing_installations
    FROM rollup_rows WHERE is_paid_gmau AND scope = 'paid' AND dimension = '';

    CREATE VIEW umau AS
    SELECT month, key_path, recorded, reporting_installations, percent_reporting,
           estimated_total, active_installations, failing_installations
    FROM rollup_rows WHERE is_umau AND scope = 'all' AND dimension = '';

    CREATE VIEW cmau AS
    SELECT month, sum(recorded) AS recorded, count(DISTINCT stage) AS stages
    FROM smau GROUP BY month;

    CREATE VIEW feature_use AS
    SELECT month, stage, product_group, key_path, time_frame, activity,
           reporting_installations, using_installations, adoption_rate, total, median,
           active_installations, failing_installations, percent_reporting
    FROM rollup_rows WHERE scope = 'all' AND dimension = '';

    CREATE VIEW monthly_installations AS
    SELECT s.month, i.uuid, i.hostname, s.version, s.edition, s.tier, s.deployment,
           s.installation_type, s.ping_id, s.received_at
    FROM snapshots s JOIN installations i ON i.id = s.installation_id;
    """
)

MIGRATIONS.append(
    # operator surface: throughput over the last minutes reads pings by processing time
    """
    CREATE INDEX pings_by_processed_at ON pings (processed_at);
    """
)

MIGRATIONS.append(
    # pings may be queued in batches (imports, repairs): remember which RQ job holds each one
    """
    ALTER TABLE pings ADD COLUMN job_id TEXT;
    """
)
