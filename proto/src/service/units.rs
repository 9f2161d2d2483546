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
            .find(|(_, factor)| self.0 != 0 && self.0 % factor == 0)
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
