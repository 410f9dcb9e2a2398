use thiserror::Error;

/// Why a statistic could not be computed. Bad input is reported, never a
/// panic; every variant names the argument it is about.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A sample has fewer values than the computation needs.
    #[error("`{what}` needs at least {needed} value(s), got {got}")]
    TooFew { what: &'static str, needed: usize, got: usize },
    /// A sample holds NaN, or an infinity where only finite values make sense.
    #[error("`{what}` holds a non-finite value ({value}) at index {index}")]
    NotFinite { what: &'static str, index: usize, value: f64 },
    /// A sample that is taken on a log scale holds zero or a negative value.
    #[error("`{what}` must be positive, got {value} at index {index}")]
    NotPositive { what: &'static str, index: usize, value: f64 },
    /// A slice documented as sorted ascending is not.
    #[error("`{what}` must be sorted ascending (index {index} is smaller than the one before it)")]
    NotSorted { what: &'static str, index: usize },
    /// A parameter is outside its domain (a probability outside [0, 1], k > n, ...).
    #[error("`{name}` = {value} is out of range: {expected}")]
    OutOfRange { name: &'static str, value: f64, expected: &'static str },
    /// Both samples are constant, so the statistic is undefined (0/0).
    #[error("both samples have zero variance; the t statistic is undefined")]
    ZeroVariance,
    /// An exact computation would need more memory or time than allowed.
    #[error("{what} is too large for this computation ({size} > {limit})")]
    TooLarge { what: &'static str, size: u128, limit: u128 },
    /// An intermediate or final value overflowed or became NaN (e.g. values
    /// near `f64::MAX` whose variance overflows).
    #[error("{what} is not a finite number ({value})")]
    NonFiniteResult { what: &'static str, value: f64 },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Rejects NaN and, unless `allow_infinite`, ±∞.
pub(crate) fn check_values(what: &'static str, values: &[f64], allow_infinite: bool) -> Result<()> {
    for (index, &value) in values.iter().enumerate() {
        if value.is_nan() || (!allow_infinite && value.is_infinite()) {
            return Err(Error::NotFinite { what, index, value });
        }
    }
    Ok(())
}

pub(crate) fn check_len(what: &'static str, values: &[f64], needed: usize) -> Result<()> {
    if values.len() < needed {
        return Err(Error::TooFew { what, needed, got: values.len() });
    }
    Ok(())
}

/// A probability-like parameter in the closed or open unit interval.
pub(crate) fn check_unit(name: &'static str, value: f64, open: bool) -> Result<()> {
    let ok = if open { value > 0.0 && value < 1.0 } else { (0.0..=1.0).contains(&value) };
    if ok {
        Ok(())
    } else {
        let expected = if open { "must be strictly between 0 and 1" } else { "must be between 0 and 1" };
        Err(Error::OutOfRange { name, value, expected })
    }
}

pub(crate) fn finite(what: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() { Ok(value) } else { Err(Error::NonFiniteResult { what, value }) }
}
