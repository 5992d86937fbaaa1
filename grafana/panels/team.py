"""Team lead and engineering manager dashboard: budgets, attribution, trends, anomalies.

Spend is attributed to projects and teams only; no panel names individual
developers. The monthly budget is a dashboard variable, so one dashboard
serves any team or project selection.
"""

from __future__ import annotations

from typing import Any

from panels.common import (
    FILTERS,
    FORMAT_TIME_SERIES,
    annotation,
    attribution_variables,
    build_dashboard,
    panel,
    row,
    textbox_variable,
    with_thresholds,
)

UID = "otel-cost-team"
BUDGET = "toDecimal128OrZero(${monthly_budget_usd:sqlstring}, 2)"
MONTH_START = "toDateTime(toStartOfMonth($__toTime))"
MONTH_WHERE = f"bucket >= {MONTH_START} AND bucket <= $__toTime AND {FILTERS}"
#: Smallest group of people whose spend is shown under the group's own name.
MIN_GROUP_SIZE = 5
SMALL_TEAMS = "(teams under 5 people)"
#: Days of history before each day that make its spend baseline.
BASELINE_DAYS = 14
#: Standard deviations above the baseline mean that make a day anomalous.
ANOMALY_SIGMA = 2.5


def _budget_panels() -> list[dict[str, Any]]:
    used = panel(
        "stat",
        "Budget used this month",
        "Month-to-date spend as a share of the monthly budget variable. "
        "Amber from 75%, red from 90%.",
        f"SELECT if({BUDGET} > 0, round(toFloat64(sum(cost_usd)) / "
        f"toFloat64({BUDGET}) * 100, 1), NULL) AS budget_used_pct "
        f"FROM cost_rollup_15m WHERE {MONTH_WHERE}",
        (6, 5),
        unit="percent",
    )
    return [
        row("Budget"),
        panel(
            "stat",
            "Month to date",
            "Priced spend since the first day of the month of the range end.",
            f"SELECT sum(cost_usd) AS cost_usd FROM cost_rollup_15m WHERE {MONTH_WHERE}",
            (6, 5),
            decimals=2,
        ),
        with_thresholds(used, [(None, "green"), (75, "#ef8f00"), (90, "red")]),
        panel(
            "stat",
            "Projected month end",
            "Month-to-date spend plus the 7-day average daily spend for each "
            "day left in the month.",
            "SELECT mtd + last7 / 7 * dateDiff('day', toDate($__toTime), "
            "toLastDayOfMonth($__toTime)) AS projected_usd FROM ("
            f"SELECT sumIf(cost_usd, bucket >= {MONTH_START}) AS mtd, "
            "sumIf(cost_usd, bucket > $__toTime - INTERVAL 7 DAY) AS last7 "
            f"FROM cost_rollup_15m WHERE bucket >= least({MONTH_START}, "
            f"$__toTime - INTERVAL 7 DAY) AND bucket <= $__toTime AND {FILTERS})",
            (6, 5),
            decimals=2,
        ),
        panel(
            "timeseries",
            "Burn-down against budget",
            "Budget left at the end of each day of the month, next to a straight "
            "line from the full budget to zero at month end.",
            f"SELECT toDateTime(day) AS time, {BUDGET} - sum(cost) OVER "
            "(ORDER BY day) AS remaining_usd, "
            f"round(toFloat64({BUDGET}) * (1 - toDayOfMonth(day) / "
            "toDayOfMonth(toLastDayOfMonth(day))), 2) AS ideal_remaining_usd FROM ("
            "SELECT toDate(bucket) AS day, sum(cost_usd) AS cost FROM cost_rollup_15m "
            f"WHERE {MONTH_WHERE} GROUP BY day ORDER BY day WITH FILL FROM "
            "toStartOfMonth($__toTime) TO toDate($__toTime) + 1 STEP 1) ORDER BY time",
            (6, 5),
            fmt=FORMAT_TIME_SERIES,
        ),
    ]


def _attribution_panels() -> list[dict[str, Any]]:
    where = f"$__timeFilter(bucket) AND {FILTERS}"
    by_team = (
        f"SELECT if(users < {MIN_GROUP_SIZE}, '{SMALL_TEAMS}', team) AS team_label, "
        "sum(team_usd) AS cost_usd FROM (SELECT team, sum(cost_usd) AS team_usd, "
        f"uniqExact(user) AS users FROM cost_rollup_15m WHERE {where} GROUP BY team) "
        "GROUP BY team_label ORDER BY cost_usd DESC, team_label LIMIT 25"
    )
    return [
        row("Attribution"),
        panel(
            "barchart",
            "Spend by project",
            "Priced spend in the time range per project, largest first (top 25).",
            "SELECT project, sum(cost_usd) AS cost_usd FROM cost_rollup_15m "
            f"WHERE {where} GROUP BY project ORDER BY cost_usd DESC, project LIMIT 25",
            (12, 8),
            options={"orientation": "horizontal", "xField": "project"},
        ),
        panel(
            "barchart",
            "Spend by team",
            "Priced spend in the time range per team, largest first (top 25). "
            f"Teams with fewer than {MIN_GROUP_SIZE} people in the range are summed "
            "into one bar, so no one's own spend can be read off a small team.",
            by_team,
            (12, 8),
            options={"orientation": "horizontal", "xField": "team_label"},
        ),
    ]


def _trend_panels() -> list[dict[str, Any]]:
    month_over_month = (
        "SELECT formatDateTime(month, '%Y-%m') AS month_label, "
        "month_usd AS cost_usd, "
        "if(previous = 0, NULL, round(toFloat64(month_usd - previous) / "
        "toFloat64(previous) * 100, 1)) AS change_pct FROM ("
        "SELECT toStartOfMonth(bucket) AS month, sum(cost_usd) AS month_usd, "
        "lagInFrame(sum(cost_usd)) OVER (ORDER BY toStartOfMonth(bucket) "
        "ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS previous FROM cost_rollup_15m "
        "WHERE bucket >= toDateTime(toStartOfMonth($__toTime - INTERVAL 12 MONTH)) "
        f"AND bucket <= $__toTime AND {FILTERS} GROUP BY month) ORDER BY month_label"
    )
    forecast = (
        "SELECT toDateTime(day) AS time, cost AS actual_usd, "
        "round(forecast, 6) AS forecast_usd FROM (SELECT day, cost, avg(cost) OVER "
        "(ORDER BY day ROWS BETWEEN 7 PRECEDING AND 1 PRECEDING) AS forecast FROM ("
        "SELECT toDate(bucket) AS day, sum(cost_usd) AS cost FROM cost_rollup_15m "
        "WHERE bucket >= toDateTime(toDate($__fromTime) - 7) AND bucket <= $__toTime "
        f"AND {FILTERS} GROUP BY day ORDER BY day WITH FILL FROM "
        "toDate($__fromTime) - 7 TO toDate($__toTime) + 1 STEP 1)) "
        "WHERE day >= toDate($__fromTime) ORDER BY time"
    )
    return [
        row("Trends"),
        panel(
            "barchart",
            "Month over month",
            "Spend per calendar month over the last 12 months, with the change "
            "from the month before in percent.",
            month_over_month,
            (12, 8),
            options={"xField": "month_label"},
        ),
        panel(
            "timeseries",
            "Forecast vs actual",
            "Daily spend next to the forecast made the day before: the mean of "
            "the 7 previous days.",
            forecast,
            (12, 8),
            fmt=FORMAT_TIME_SERIES,
        ),
    ]


def anomalies_sql() -> str:
    """Return daily project spend above the baseline mean by more than 2.5 sigma."""
    days = BASELINE_DAYS
    return (
        "SELECT toDateTime(day) AS time, project, cost_usd, "
        "round(mean_usd, 6) AS baseline_usd, "
        "round((toFloat64(cost_usd) - mean_usd) / sd_usd, 2) AS sigma FROM ("
        "SELECT day, project, cost_usd, avg(toFloat64(cost_usd)) OVER w AS mean_usd, "
        "stddevPop(toFloat64(cost_usd)) OVER w AS sd_usd FROM ("
        "SELECT toDate(bucket) AS day, project, sum(cost_usd) AS cost_usd "
        f"FROM cost_rollup_15m WHERE bucket >= toDateTime(toDate($__fromTime) - {days}) "
        f"AND bucket <= $__toTime AND {FILTERS} GROUP BY project, day "
        f"ORDER BY project, day WITH FILL FROM toDate($__fromTime) - {days} "
        "TO toDate($__toTime) + 1 STEP 1) "
        f"WINDOW w AS (PARTITION BY project ORDER BY day ROWS BETWEEN {days} "
        "PRECEDING AND 1 PRECEDING)) "
        f"WHERE day >= toDate($__fromTime) AND sd_usd > 0 AND toFloat64(cost_usd) > "
        f"mean_usd + {ANOMALY_SIGMA} * sd_usd ORDER BY time, project"
    )


def anomaly_annotation() -> dict[str, Any]:
    """Return the annotation that marks anomalous days on every time panel."""
    sql = (
        "SELECT time, concat('Spend anomaly: ', project) AS title, "
        "concat(project, ' spent ', toString(round(toFloat64(cost_usd), 2)), "
        "' USD, ', toString(sigma), ' sigma above its 14-day baseline') AS text, "
        "['otel-cost', 'anomaly'] AS tags FROM (" + anomalies_sql() + ")"
    )
    return annotation("Spend anomalies", sql, "red")


def dashboard() -> dict[str, Any]:
    """Return the team lead and engineering manager dashboard."""
    anomalies = panel(
        "table",
        "Spend anomalies",
        f"Days on which a project spent more than its {BASELINE_DAYS}-day mean plus "
        f"{ANOMALY_SIGMA} standard deviations. Also marked on the time panels.",
        anomalies_sql(),
        (24, 7),
    )
    panels = [
        *_budget_panels(),
        *_attribution_panels(),
        *_trend_panels(),
        row("Anomalies"),
        anomalies,
    ]
    variables = [
        *attribution_variables(),
        textbox_variable("monthly_budget_usd", "Monthly budget (USD)", "1000"),
    ]
    return build_dashboard(
        UID,
        "otel-cost / Team and budgets",
        "Burn-down against the monthly budget, attribution by project and team, "
        "month-over-month trend, forecast vs actual and spend anomalies.",
        panels,
        variables,
        annotations=[anomaly_annotation()],
        time_from="now-30d",
    )
