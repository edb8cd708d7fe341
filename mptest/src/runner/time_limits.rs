//! libtest's `--ensure-time`: a test that passed but took longer than its critical time fails.
//!
//! The limits are libtest's — 50 / 100 ms for unit tests (in `src/`), 500 / 1000 ms for
//! integration tests (in `tests/`), 60 / 120 s for others — or what `RUST_TEST_TIME_UNIT` and
//! `RUST_TEST_TIME_INTEGRATION` say (`WARN_MS,CRITICAL_MS`). As libtest, the kind of a test is
//! told by the folder of its source file.

use std::path::Path;
use std::time::Duration;

/// A warning time and a critical time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Threshold {
    pub(crate) warn: Duration,
    pub(crate) critical: Duration,
}

impl Threshold {
    const fn ms(warn: u64, critical: u64) -> Threshold {
        Threshold {
            warn: Duration::from_millis(warn),
            critical: Duration::from_millis(critical),
        }
    }

    /// `WARN_MS,CRITICAL_MS` from `var`, if set: libtest's format and its words for a bad one.
    fn from_env(var: &str) -> Result<Option<Threshold>, String> {
        let Ok(text) = std::env::var(var) else {
            return Ok(None);
        };
        let numbers: Vec<&str> = text.split(',').collect();
        let [warn, critical] = numbers[..] else {
            return Err(format!(
                "Duration variable {var} expected to have 2 numbers separated by comma, but got {text}"
            ));
        };
        let parse = |n: &str| {
            n.parse::<u64>().map_err(|_| {
                format!("Duration value in variable {var} is expected to be a number, but got {n}")
            })
        };
        let threshold = Threshold::ms(parse(warn)?, parse(critical)?);
        if threshold.warn > threshold.critical {
            return Err(format!(
                "Test execution warn time should be less or equal to the critical time ({var}={text})"
            ));
        }
        Ok(Some(threshold))
    }
}

/// The limits of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeLimits {
    unit: Threshold,
    integration: Threshold,
}

impl TimeLimits {
    /// libtest's defaults, or what its variables say.
    pub(crate) fn from_env() -> Result<TimeLimits, String> {
        Ok(TimeLimits {
            unit: Threshold::from_env("RUST_TEST_TIME_UNIT")?.unwrap_or(Threshold::ms(50, 100)),
            integration: Threshold::from_env("RUST_TEST_TIME_INTEGRATION")?
                .unwrap_or(Threshold::ms(500, 1000)),
        })
    }

    /// The threshold of a test declared in `file`, and the variable that sets it.
    pub(crate) fn for_file(&self, file: &str) -> (Threshold, &'static str) {
        let folder = Path::new(file).parent().unwrap_or(Path::new(""));
        if folder.ends_with("src") {
            (self.unit, "RUST_TEST_TIME_UNIT")
        } else if folder.ends_with("tests") {
            (self.integration, "RUST_TEST_TIME_INTEGRATION")
        } else {
            (
                Threshold::ms(60_000, 120_000),
                "libtest's limit for tests outside src/ and tests/",
            )
        }
    }

    /// Why a test of `file` that took `took` fails, if it does.
    pub(crate) fn exceeded(&self, file: &str, took: Duration) -> Option<String> {
        let (threshold, source) = self.for_file(file);
        (took > threshold.critical).then(|| {
            format!(
                "time limit exceeded: it took {:.3}s, its critical time is {:.3}s ({source})",
                took.as_secs_f64(),
                threshold.critical.as_secs_f64()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtests_limits_by_the_folder_of_the_test() {
        let limits = TimeLimits {
            unit: Threshold::ms(50, 100),
            integration: Threshold::ms(500, 1000),
        };
        let ms = Duration::from_millis;
        assert!(limits.exceeded("tests/net.rs", ms(900)).is_none());
        assert!(limits.exceeded("member/tests/net.rs", ms(1001)).is_some());
        assert!(limits.exceeded("src/lib.rs", ms(101)).is_some());
        assert!(limits.exceeded("benches/x.rs", ms(100_000)).is_none());
        assert!(limits.exceeded("benches/x.rs", ms(120_001)).is_some());
    }
}
