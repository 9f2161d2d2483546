//! Times as people read them. The wire carries Unix milliseconds; the console
//! shows and reads UTC so that operators in different zones, the audit log and
//! the server's own logs all name a moment the same way. Pure arithmetic: the
//! browser build has no date library.

use shoal_proto::Millis;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// `2026-11-25 21:04:05 UTC`.
pub fn utc(millis: Millis) -> String {
    let (year, month, day) = civil_from_days(millis.div_euclid(MILLIS_PER_DAY));
    let secs = millis.rem_euclid(MILLIS_PER_DAY) / 1000;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// [`utc`], or `absent` for a moment that has not happened.
pub fn utc_or(millis: Option<Millis>, absent: &str) -> String {
    millis.map_or_else(|| absent.to_owned(), utc)
}

/// Memory in GiB with one decimal: `7.6 GiB`.
pub fn gib(bytes: u64) -> String {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    format!("{:.1} GiB", bytes as f64 / GIB)
}

/// Reads the value of an `<input type="datetime-local">` (`2026-11-25T21:04`,
/// seconds optional) as a UTC moment.
pub fn parse_datetime_local(value: &str) -> Option<Millis> {
    let (date, time) = value.trim().split_once('T')?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: u32 = date_parts.next()?.parse().ok()?;
    let day: u32 = date_parts.next()?.parse().ok()?;
    let mut time_parts = time.splitn(3, ':');
    let hour: i64 = time_parts.next()?.parse().ok()?;
    let minute: i64 = time_parts.next()?.parse().ok()?;
    let second: f64 = time_parts.next().map_or(Some(0.0), |s| s.parse().ok())?;
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0.0..60.0).contains(&second);
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * MILLIS_PER_DAY + (hour * 3600 + minute * 60) * 1000 + (second * 1000.0) as i64)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// The two conversions below are Howard Hinnant's `civil_from_days` and
// `days_from_civil`: exact for every proleptic Gregorian date, no tables.
// Eras are 400-year cycles starting on 0000-03-01, so leap days end a year.

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = (if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    }) as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = i64::from(if month > 2 { month - 3 } else { month + 9 });
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_millis_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_795_640_645_000), "2026-11-25 21:04:05 UTC");
        assert_eq!(utc(1_795_640_645_999), "2026-11-25 21:04:05 UTC");
        assert_eq!(utc(1_709_208_000_000), "2024-02-29 12:00:00 UTC");
        assert_eq!(utc(951_868_800_000), "2000-03-01 00:00:00 UTC");
        assert_eq!(utc(-1000), "1969-12-31 23:59:59 UTC");
        assert_eq!(utc_or(None, "never"), "never");
    }

    #[test]
    fn memory_is_shown_in_gib() {
        assert_eq!(gib(8 * 1024 * 1024 * 1024), "8.0 GiB");
        assert_eq!(gib(1536 * 1024 * 1024), "1.5 GiB");
    }

    #[test]
    fn reads_datetime_local_values_as_utc() {
        assert_eq!(
            parse_datetime_local("2026-11-25T21:04:05"),
            Some(1_795_640_645_000)
        );
        assert_eq!(parse_datetime_local("2026-11-25T21:04"), Some(1_795_640_640_000));
        assert_eq!(parse_datetime_local("2024-02-29T12:00"), Some(1_709_208_000_000));
        assert_eq!(parse_datetime_local("1970-01-01T00:00:00.250"), Some(250));
        for bad in [
            "",
            "2026-11-25",
            "2023-02-29T00:00",
            "2026-13-01T00:00",
            "2026-11-25T24:00",
            "x-y-zT1:2",
        ] {
            assert_eq!(parse_datetime_local(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn day_conversions_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }
}
