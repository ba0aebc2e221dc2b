//! Range reads that stay index-only while a few readings carry a text (strings, 64-bit
//! integers beyond 2^53): the primary key holds time, value and quality, the partial index
//! `readings_value_text` the texts. One statement asks both over the same range, as two
//! branches; the rows of the second (quality NULL) are joined to the first here.
//!
//! Not a join in SQL: the planner estimates the text branch at about one row whatever the
//! register, and with a generic plan it then rescans a materialised text branch once per
//! reading (1.1 s instead of 1 ms for a day of a string register, measured).

use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A reading's instant and its text, as the text branch gives them.
pub(super) type Text = (DateTime<Utc>, Arc<str>);

/// One register's readings in a range as two branches of one statement, each oldest first
/// and at most `$5` rows: `key_columns` of the readings from `{from}` (the primary key),
/// then `text_columns` of those with a text from `readings r` (the text index). `quals`
/// restricts `r` to the register and the range, the same for both branches: the text
/// branch reads no text past the last reading of the first (`$5` texts at most).
pub(super) fn range_branches(
    key_columns: &str,
    text_columns: &str,
    from: &str,
    quals: &str,
) -> String {
    format!(
        "(SELECT {key_columns} FROM {from} WHERE {quals} \
          ORDER BY r.\"timestamp\" LIMIT $5) \
         UNION ALL \
         (SELECT {text_columns} FROM readings r WHERE {quals} AND r.value_text IS NOT NULL \
          ORDER BY r.\"timestamp\" LIMIT $5)"
    )
}

/// Gives each of `items` the text read at its instant. Sorts `items` by time (they are one
/// register's, so instants are unique); a text past the last item (cut by the limit) is
/// dropped.
pub(super) fn attach<T>(
    items: &mut [T],
    texts: Vec<Text>,
    at: impl Fn(&T) -> DateTime<Utc>,
    set: impl Fn(&mut T, Arc<str>),
) {
    // The branches come oldest first, but nothing promises it of a UNION ALL; sorting
    // rows already in order takes one pass.
    items.sort_by_key(&at);
    for (instant, text) in texts {
        if let Ok(i) = items.binary_search_by_key(&instant, &at)
            && let Some(item) = items.get_mut(i)
        {
            set(item, text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).single().expect("instant")
    }

    #[test]
    fn texts_go_to_their_instant_and_those_past_the_items_are_dropped() {
        let mut items: Vec<(DateTime<Utc>, Option<Arc<str>>)> =
            vec![(t(3), None), (t(1), None), (t(2), None)];
        let texts = vec![
            (t(1), Arc::from("a")),
            (t(3), Arc::from("c")),
            (t(9), "z".into()),
        ];
        attach(&mut items, texts, |i| i.0, |i, s| i.1 = Some(s));
        assert_eq!(
            items,
            vec![
                (t(1), Some("a".into())),
                (t(2), None),
                (t(3), Some("c".into()))
            ]
        );
    }
}
