//! UTC timestamps without a date library.

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch.
pub fn iso8601(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
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
    #[test]
    fn known_dates() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601(1_795_000_000), "2026-11-18T11:06:40Z");
    }
}

/// GitLab's `artifacts:expire_in` (ChronicDuration as GitLab accepts it):
/// `42`, `3 mins 4 sec`, `2 hrs 20 min`, `2h20min`, `6 mos 1 day`,
/// `47 yrs 6 mos and 4d`, `3 weeks and 2 days`, `never`. A bare number is
/// seconds. `Ok(None)` means never expires.
pub fn parse_expire_in(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim().to_ascii_lowercase();
    if t == "never" {
        return Ok(None);
    }
    if t.is_empty() {
        return Err("an empty duration".into());
    }
    let mut total: u64 = 0;
    let mut chars = t.chars().peekable();
    let mut any = false;
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let mut word = String::new();
        while chars.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            word.push(chars.next().unwrap_or(' '));
        }
        if word == "and" {
            continue;
        }
        if !word.is_empty() {
            return Err(format!("`{text}`: expected a number before `{word}`"));
        }
        let mut num = String::new();
        while chars.peek().is_some_and(|c| c.is_ascii_digit() || *c == '.') {
            num.push(chars.next().unwrap_or('0'));
        }
        if num.is_empty() {
            if chars.peek().is_none() && any {
                break;
            }
            return Err(format!("`{text}`: not a duration"));
        }
        let n: f64 = num.parse().map_err(|_| format!("`{text}`: `{num}` is not a number"))?;
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut unit = String::new();
        while chars.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            unit.push(chars.next().unwrap_or(' '));
        }
        let secs: f64 = match unit.as_str() {
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86_400.0,
            "w" | "wk" | "wks" | "week" | "weeks" => 604_800.0,
            "mo" | "mos" | "month" | "months" => 2_592_000.0,
            "y" | "yr" | "yrs" | "year" | "years" => 31_557_600.0,
            other => return Err(format!("`{text}`: unknown unit `{other}`")),
        };
        total = total.saturating_add((n * secs) as u64);
        any = true;
        if chars.peek().is_none() {
            break;
        }
    }
    Ok(Some(total))
}

#[cfg(test)]
mod expire_tests {
    use super::parse_expire_in;

    #[test]
    fn gitlab_expire_in_examples() {
        for (text, secs) in [
            ("42", Some(42)),
            ("42 seconds", Some(42)),
            ("3 mins 4 sec", Some(184)),
            ("2 hrs 20 min", Some(8400)),
            ("2h20min", Some(8400)),
            ("6 mos 1 day", Some(6 * 2_592_000 + 86_400)),
            ("47 yrs 6 mos and 4d", Some(47 * 31_557_600 + 6 * 2_592_000 + 4 * 86_400)),
            ("3 weeks and 2 days", Some(3 * 604_800 + 2 * 86_400)),
            ("1 week", Some(604_800)),
            ("never", None),
            ("Never", None),
        ] {
            assert_eq!(parse_expire_in(text), Ok(secs), "{text}");
        }
        for bad in ["", "soon", "3 fortnights", "and"] {
            assert!(parse_expire_in(bad).is_err(), "{bad}");
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
