//! Timestamps as integer seconds since the Unix epoch, from integer or float seconds or from
//! ISO-8601 / RFC 3339 date-times such as the Open Bandit Dataset's
//! `2019-11-24 00:00:34.762830+00:00`. Hand-written (civil-date arithmetic, no time zone
//! database) because only fixed UTC offsets occur in logs.

/// Seconds since 1970-01-01T00:00:00Z, or `None` if `s` is not a timestamp.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = s.parse::<i64>() {
        return Some(t);
    }
    if let Ok(x) = s.parse::<f64>() {
        return x.is_finite().then(|| x.floor() as i64);
    }
    parse_datetime(s)
}

/// `YYYY-MM-DD`, optionally followed by `T` or a space, `HH:MM[:SS[.fraction]]` and a zone
/// (`Z`, `+HH:MM`, `-HHMM`, `+HH`). Without a zone the time is taken as UTC.
fn parse_datetime(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i64 = s.get(0..4)?.parse().ok()?;
    let month: u32 = s.get(5..7)?.parse().ok()?;
    let day: u32 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(seconds);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, zone) = split_zone(rest)?;
    let mut parts = clock.split(':');
    let hour: i64 = parts.next()?.parse().ok()?;
    let minute: i64 = parts.next()?.parse().ok()?;
    let second: i64 = match parts.next() {
        Some(sec) => {
            let whole = sec.split('.').next()?;
            whole.parse().ok()?
        }
        None => 0,
    };
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    seconds += hour * 3600 + minute * 60 + second;
    Some(seconds - zone)
}

/// Splits a clock string from its zone suffix; returns the zone's offset east of UTC in
/// seconds.
fn split_zone(s: &str) -> Option<(&str, i64)> {
    if let Some(clock) = s.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let Some(at) = s.rfind(['+', '-']) else {
        return Some((s, 0));
    };
    let (clock, zone) = s.split_at(at);
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let digits: String = zone[1..].chars().filter(|c| *c != ':').collect();
    let (h, m) = match digits.len() {
        2 => (digits.parse::<i64>().ok()?, 0),
        4 => (
            digits[..2].parse::<i64>().ok()?,
            digits[2..].parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    Some((clock, sign * (h * 3600 + m * 60)))
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp;

    #[test]
    fn numbers_and_datetimes() {
        assert_eq!(parse_timestamp("978300760"), Some(978_300_760));
        assert_eq!(parse_timestamp("978300760.9"), Some(978_300_760));
        assert_eq!(parse_timestamp("1970-01-01"), Some(0));
        assert_eq!(parse_timestamp("2000-03-01T00:00:00Z"), Some(951_868_800));
        // The Open Bandit Dataset's first row; `date -d` agrees.
        assert_eq!(
            parse_timestamp("2019-11-24 00:00:34.762830+00:00"),
            Some(1_574_553_634)
        );
        assert_eq!(
            parse_timestamp("2019-11-24T09:00:34+09:00"),
            Some(1_574_553_634)
        );
        assert_eq!(
            parse_timestamp("2019-11-23 19:00:34-0500"),
            Some(1_574_553_634)
        );
        assert_eq!(parse_timestamp("2019-02-30"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("nan"), None);
    }
}
