//! Durations and byte sizes as people write them in compose files: `"5s"`,
//! `"1m30s"`, `"250ms"`; `"64M"`, `"1G"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whole milliseconds. Serialized as the shortest exact string (`"1m30s"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    millis: u64,
}

impl Duration {
    pub const ZERO: Duration = Duration { millis: 0 };

    pub const fn from_millis(millis: u64) -> Self {
        Self { millis }
    }

    pub const fn from_secs(secs: u64) -> Self {
        Self { millis: secs * 1000 }
    }

    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis)
    }
}

/// Bytes. Parsed from `"64M"`-style strings (binary multiples, as Docker
/// reads them) or a plain number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

const DURATION_UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)];

impl std::str::FromStr for Duration {
    type Err = String;

    /// Go's and compose's form: one or more `<number><unit>` with units
    /// `h`, `m`, `s`, `ms` (`"1m30s"`, `"1.5s"`, `"0s"`).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            format!(
                "{raw:?} is not a duration: write a number and a unit (h, m, s, ms), e.g. \"5s\" or \"1m30s\""
            )
        };
        let mut rest = raw.trim();
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut total: f64 = 0.0;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(invalid)?;
            let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let factor = DURATION_UNITS
                .iter()
                .find(|(unit, _)| *unit == &rest[..unit_len])
                .map(|(_, factor)| *factor)
                .ok_or_else(invalid)?;
            rest = &rest[unit_len..];
            total += number * factor as f64;
        }
        // Far beyond any sensible setting, and safely inside u64 and i64.
        if total > 1e15 {
            return Err(format!("{raw:?} is too long a duration"));
        }
        Ok(Duration::from_millis(total.round() as u64))
    }
}

impl std::fmt::Display for Duration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.millis;
        for (unit, factor) in DURATION_UNITS {
            if rest >= factor {
                write!(f, "{}{unit}", rest / factor)?;
                rest %= factor;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

const BYTE_UNITS: [(&str, u64); 4] = [("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10), ("b", 1)];

impl std::str::FromStr for ByteSize {
    type Err = String;

    /// Docker's form: a number with an optional unit `b`, `k`, `m`, `g`
    /// (binary multiples, either case, an optional trailing `b`: `"64M"`,
    /// `"64mb"`, `"1g"`).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid =
            || format!("{raw:?} is not a size: write a number and a unit (b, k, m, g), e.g. \"64M\"");
        let lower = raw.trim().to_ascii_lowercase();
        let number_len = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
        let number: u64 = lower[..number_len].parse().map_err(|_| invalid())?;
        let unit = &lower[number_len..];
        let unit = if unit.len() == 2 {
            unit.strip_suffix('b').ok_or_else(invalid)?
        } else {
            unit
        };
        let factor = match unit {
            "" => 1,
            unit => BYTE_UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, factor)| *factor)
                .ok_or_else(invalid)?,
        };
        number
            .checked_mul(factor)
            .filter(|bytes| i64::try_from(*bytes).is_ok())
            .map(ByteSize)
            .ok_or_else(|| format!("{raw:?} is too large"))
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (unit, factor) = BYTE_UNITS
            .iter()
            .find(|(_, factor)| self.0 != 0 && self.0.is_multiple_of(*factor))
            .copied()
            .unwrap_or(("b", 1));
        let unit = if unit == "b" {
            String::new()
        } else {
            unit.to_ascii_uppercase()
        };
        write!(f, "{}{unit}", self.0 / factor)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(bytes) => Ok(ByteSize(bytes)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn duration(raw: &str) -> Duration {
        raw.parse().unwrap()
    }

    #[test]
    fn durations_parse_go_style() {
        assert_eq!(duration("1m30s"), Duration::from_secs(90));
        assert_eq!(duration("0s"), Duration::ZERO);
        assert_eq!(duration("250ms"), Duration::from_millis(250));
        assert_eq!(duration("1.5s"), Duration::from_millis(1500));
        assert_eq!(duration("2h45m"), Duration::from_secs(9900));
        assert_eq!(duration(" 5s "), Duration::from_secs(5));
        assert_eq!(
            duration("1s500ms").as_std(),
            std::time::Duration::from_millis(1500)
        );
    }

    #[test]
    fn bad_durations_say_what_to_write() {
        let error = "5x".parse::<Duration>().unwrap_err();
        assert_eq!(
            error,
            r#""5x" is not a duration: write a number and a unit (h, m, s, ms), e.g. "5s" or "1m30s""#
        );
        for bad in ["", "5", "s", "-1s", "1 s", "5sec", "1.2.3s", "1e3s"] {
            assert!(
                bad.parse::<Duration>().unwrap_err().contains("not a duration"),
                "{bad:?}"
            );
        }
        assert!(
            "99999999999h"
                .parse::<Duration>()
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn durations_display_as_the_shortest_exact_string_and_round_trip() {
        for (millis, text) in [
            (0, "0s"),
            (1, "1ms"),
            (1500, "1s500ms"),
            (90_000, "1m30s"),
            (3_600_000, "1h"),
            (90_061_001, "25h1m1s1ms"),
        ] {
            let value = Duration::from_millis(millis);
            assert_eq!(value.to_string(), text);
            assert_eq!(duration(text), value);
            let json = serde_json::to_string(&value).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Duration>(&json).unwrap(), value);
        }
        assert!(serde_json::from_str::<Duration>("5").is_err());
    }

    #[test]
    fn byte_sizes_parse_dockers_units() {
        for (raw, bytes) in [
            ("64M", 64 << 20),
            ("64m", 64 << 20),
            ("64mb", 64 << 20),
            ("64MB", 64 << 20),
            ("1g", 1 << 30),
            ("512k", 512 << 10),
            ("100b", 100),
            ("100", 100),
            ("0", 0),
        ] {
            assert_eq!(raw.parse::<ByteSize>().unwrap(), ByteSize(bytes), "{raw}");
        }
        assert_eq!(
            serde_json::from_str::<ByteSize>("1048576").unwrap(),
            ByteSize(1 << 20)
        );
        assert_eq!(
            serde_json::from_str::<ByteSize>("\"1G\"").unwrap(),
            ByteSize(1 << 30)
        );
        for bad in ["", "M", "12x", "-1", "1.5G", "64 M", "64mib"] {
            let error = bad.parse::<ByteSize>().unwrap_err();
            assert!(error.contains("is not a size"), "{bad:?}: {error}");
        }
        assert!(
            "99999999999g"
                .parse::<ByteSize>()
                .unwrap_err()
                .contains("too large")
        );
        assert!(serde_json::from_str::<ByteSize>("-5").is_err());
    }

    #[test]
    fn byte_sizes_display_in_the_largest_exact_unit_and_round_trip() {
        for (bytes, text) in [
            (0, "0"),
            (1000, "1000"),
            (1024, "1K"),
            (6 << 20, "6M"),
            ((1 << 30) + (1 << 20), "1025M"),
            (1 << 30, "1G"),
        ] {
            let size = ByteSize(bytes);
            assert_eq!(size.to_string(), text);
            assert_eq!(text.parse::<ByteSize>().unwrap(), size);
            assert_eq!(serde_json::to_string(&size).unwrap(), format!("\"{text}\""));
        }
    }
}
