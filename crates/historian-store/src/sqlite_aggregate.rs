//! Bucketed aggregates and roll-ups on SQLite. Every source is first turned into
//! sub-buckets `(t, device_id, register_address, avg, min, max, count, first, last)`: a raw
//! reading is a sub-bucket of one value, a roll-up row a sub-bucket of many. One outer
//! query then merges sub-buckets into buckets of any width, so raw data, roll-ups and
//! their mix are aggregated by the same SQL.

/// A raw reading as a sub-bucket of one value.
const RAW_AS_SUB_BUCKETS: &str = "r.timestamp AS t, r.device_id, r.register_address, \
    r.value AS avg, r.value AS min, r.value AS max, (r.value IS NOT NULL) AS count, \
    r.value AS first, r.value AS last";

/// Merges the sub-buckets of `inner` into buckets `width` microseconds wide (`width` is an
/// SQL expression), keyed (bucket, device_id, register_address).
fn merge(inner: &str, width: &str) -> String {
    format!(
        "SELECT (t / {width}) * {width} AS b, device_id, register_address, \
           sum(avg * count) / nullif(sum(count), 0), min(min), max(max), sum(count), \
           max(CASE WHEN rf = 1 THEN first END), max(CASE WHEN rl = 1 THEN last END) \
         FROM (SELECT *, \
                 row_number() OVER (PARTITION BY device_id, register_address, t / {width} \
                                    ORDER BY first IS NULL, t) AS rf, \
                 row_number() OVER (PARTITION BY device_id, register_address, t / {width} \
                                    ORDER BY last IS NULL, t DESC) AS rl \
               FROM ({inner})) \
         GROUP BY b, device_id, register_address"
    )
}

/// The aggregate query: `?1` device, `?2` JSON array of references, `?3`/`?4` range in
/// microseconds, `?5` width in microseconds. `table` is the roll-up read, if any.
pub fn query_sql(table: Option<&str>) -> String {
    const REGS: &str = "register_address IN (SELECT value FROM json_each(?2))";
    let raw = |extra: &str| {
        format!(
            "SELECT {RAW_AS_SUB_BUCKETS} FROM register_readings r \
             WHERE r.device_id = ?1 AND r.{REGS} AND r.timestamp >= ?3 AND r.timestamp < ?4 {extra}"
        )
    };
    let inner = match table {
        None => raw(""),
        Some(table) => format!(
            "SELECT bucket AS t, device_id, register_address, avg, min, max, count, first, last \
             FROM {table} WHERE device_id = ?1 AND {REGS} AND bucket >= ?3 AND bucket < ?4 \
               AND bucket < {wm} \
             UNION ALL {raw_after}",
            wm = watermark(table),
            raw_after = raw(&format!("AND r.timestamp >= {}", watermark(table))),
        ),
    };
    format!("{} ORDER BY register_address, b", merge(&inner, "?5"))
}

fn watermark(table: &str) -> String {
    format!(
        "coalesce((SELECT upto FROM rollup_watermarks WHERE name = '{table}'), -9223372036854775807)"
    )
}

/// Roll-up statements for one table: `?1` = start of the current hour (or day) in
/// microseconds; rows from the watermark minus `lookback_us` up to it are recomputed.
pub fn roll_up_sql(table: &str, source: &str, width_us: i64, lookback_us: i64) -> [String; 2] {
    let lo = format!(
        "coalesce((SELECT upto - {lookback_us} FROM rollup_watermarks WHERE name = '{table}'), \
                  -9223372036854775807)"
    );
    // One index range per mapped register instead of a scan of the whole table.
    let inner = if source == "register_readings" {
        format!(
            "SELECT {RAW_AS_SUB_BUCKETS} FROM device_register_map m JOIN register_readings r \
               ON r.device_id = m.device_id AND r.register_address = m.register_address \
              AND r.timestamp >= {lo} AND r.timestamp < ?1"
        )
    } else {
        format!(
            "SELECT s.bucket AS t, s.device_id, s.register_address, s.avg, s.min, s.max, \
               s.count, s.first, s.last \
             FROM device_register_map m JOIN {source} s \
               ON s.device_id = m.device_id AND s.register_address = m.register_address \
              AND s.bucket >= {lo} AND s.bucket < ?1"
        )
    };
    [
        format!(
            "INSERT OR REPLACE INTO {table} \
               (bucket, device_id, register_address, avg, min, max, count, first, last) \
             {}",
            merge(&inner, &width_us.to_string())
        ),
        format!(
            "INSERT INTO rollup_watermarks (name, upto) VALUES ('{table}', ?1) \
             ON CONFLICT (name) DO UPDATE SET upto = max(upto, excluded.upto)"
        ),
    ]
}
