//! Formats stream timestamps (seconds since the epoch) as RFC 3339, without a date crate.
//!
//! The audit core has no clock; this only renders a value the record carried.

/// `2024-03-01T12:00:00Z`, with milliseconds when the input has a fraction. `None` for values
/// no calendar can show (negative, not finite, or past year 9999).
pub fn rfc3339_from_epoch_seconds(seconds: f64) -> Option<String> {
    if !seconds.is_finite() || !(0.0..253_402_300_800.0).contains(&seconds) {
        return None;
    }
    let millis_total = (seconds * 1000.0).round() as i64;
    let (secs, millis) = (millis_total.div_euclid(1000), millis_total.rem_euclid(1000));
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (of_day / 3600, (of_day % 3600) / 60, of_day % 60);
    Some(if millis == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
    })
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(
            rfc3339_from_epoch_seconds(0.0).unwrap(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339_from_epoch_seconds(1480642020.0).unwrap(),
            "2016-12-02T01:27:00Z"
        );
        assert_eq!(
            rfc3339_from_epoch_seconds(1709251200.0).unwrap(),
            "2024-03-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339_from_epoch_seconds(951782400.0).unwrap(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(
            rfc3339_from_epoch_seconds(1693997155.25).unwrap(),
            "2023-09-06T10:45:55.250Z"
        );
        assert_eq!(rfc3339_from_epoch_seconds(-1.0), None);
        assert_eq!(rfc3339_from_epoch_seconds(f64::NAN), None);
    }
}
