"""SQL for the metric dictionary as loaded into the database."""
from __future__ import annotations

METRIC_COLUMNS = ("key_path", "stage", "section", "product_group", "time_frame", "value_type",
                  "status", "active", "activity", "indicators", "is_smau", "is_gmau",
                  "is_paid_gmau", "is_umau", "tiers", "milestone", "description", "source")
FINGERPRINT_SETTING = "dictionary_fingerprint"


class MetricsSQL:
    def dictionary_fingerprint(self) -> str | None:
        row = self.conn.execute("SELECT value FROM settings WHERE key = ?", [FINGERPRINT_SETTING]).fetchone()
        return row[0] if row else None

    def store_dictionary(self, rows: list[dict], fingerprint: str) -> dict:
        """Replace the loaded dictionary, keeping the id of every key path seen before."""
        with self.write():
            before = {r[0]: r[1] for r in self.conn.execute(
                "SELECT key_path, in_dictionary FROM metrics")}
            placeholders = ", ".join("?" for _ in METRIC_COLUMNS)
            updates = ", ".join(f"{c} = excluded.{c}" for c in METRIC_COLUMNS if c != "key_path")
            self.conn.executemany(
                f"INSERT INTO metrics ({', '.join(METRIC_COLUMNS)}, in_dictionary) "
                f"VALUES ({placeholders}, 1) ON CONFLICT (key_path) DO UPDATE SET {updates}, "
                "in_dictionary = 1",
                [[row[c] for c in METRIC_COLUMNS] for row in rows],
            )
            keep = {row["key_path"] for row in rows}
            dropped = [k for k, present in before.items() if present and k not in keep]
            self.conn.executemany("UPDATE metrics SET in_dictionary = 0 WHERE key_path = ?",
                                  [(k,) for k in dropped])
            self.conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [FINGERPRINT_SETTING, fingerprint],
            )
        added = [k for k in keep if not before.get(k)]
        return {"metrics": len(rows), "added": len(added), "dropped": len(dropped)}

    def catalog_rows(self) -> list[tuple]:
        """(id, key_path, time_frame) of every number metric in the loaded dictionary."""
        return self.conn.execute(
            "SELECT id, key_path, time_frame FROM metrics "
            "WHERE in_dictionary AND value_type = 'number'"
        ).fetchall()

    def metric_rows(self, stage: str | None = None) -> list[dict]:
        sql = "SELECT * FROM metrics WHERE in_dictionary"
        params = []
        if stage:
            sql += " AND stage = ?"
            params.append(stage)
        return list(self.db.query(sql + " ORDER BY stage, product_group, key_path", params))

    def stage_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT DISTINCT stage FROM metrics WHERE in_dictionary ORDER BY stage")]
