"""SQL that reads rollups back for exports, dashboards and the API (all through the views)."""
from __future__ import annotations

from .clauses import month_range
from .rollups_sql import DIMENSIONS

INDICATOR_FILTERS = {  # kind -> (flag column or None, scope)
    "smau": ("is_smau", "all"),
    "gmau": ("is_gmau", "all"),
    "paid_gmau": ("is_paid_gmau", "paid"),
    "umau": ("is_umau", "all"),
    "features": (None, "all"),
}
INSTALLATION_DIMENSIONS = {
    "tier": "s.tier", "deployment": "s.deployment", "edition": "coalesce(s.edition, 'unknown')",
    "version": "s.version_minor", "installation_type": "coalesce(s.installation_type, 'unknown')",
}


class ExportsSQL:
    def iter_rollups(self, kind: str, first=None, last=None, stage=None, by=None):
        """Rows of rollup_rows for one kind, in month, stage, group, key_path order."""
        flag, scope = INDICATOR_FILTERS[kind]
        if by is not None and by not in DIMENSIONS:
            raise ValueError(f"unknown breakdown {by!r}")
        params: list = [scope, by or ""]
        sql = "SELECT * FROM rollup_rows WHERE scope = ? AND dimension = ?"
        if flag:
            sql += f" AND {flag}"
        sql += month_range("month", first, last, params)
        if stage:
            sql += " AND stage = ?"
            params.append(stage)
        sql += " ORDER BY month, stage, product_group, key_path, dim_value"
        return self.db.query(sql, params)

    def iter_cmau(self, first=None, last=None, by=None):
        params: list = [by or ""]
        sql = ("SELECT month, dim_value, sum(recorded) AS recorded, count(DISTINCT stage) AS stages "
               "FROM rollup_rows WHERE is_smau AND scope = 'all' AND dimension = ?")
        sql += month_range("month", first, last, params)
        return self.db.query(sql + " GROUP BY month, dim_value ORDER BY month, dim_value", params)

    def iter_installation_months(self, first=None, last=None, by=None):
        if by is not None and by not in INSTALLATION_DIMENSIONS:
            raise ValueError(f"unknown breakdown {by!r}")
        column = INSTALLATION_DIMENSIONS[by] if by else "''"
        params: list = []
        sql = (f"SELECT s.month, {column} AS dim_value, i.uuid, i.hostname, s.version, s.edition, "
               "s.tier, s.deployment, s.ping_id, s.received_at "
               "FROM snapshots s JOIN installations i ON i.id = s.installation_id WHERE true")
        sql += month_range("s.month", first, last, params)
        return self.db.query(sql + " ORDER BY s.month, dim_value, i.uuid, i.hostname", params)
