//! The vocabulary every layer shares: triggers, severities, statuses.
use std::fmt;

/// The two kinds of security event, each configured independently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Trigger {
    /// An attack or exploit attempt.
    Incident,
    /// A vulnerability in an application.
    Vulnerability,
}

impl Trigger {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Incident => "incident",
            Trigger::Vulnerability => "vulnerability",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "incident" => Some(Trigger::Incident),
            "vulnerability" => Some(Trigger::Vulnerability),
            _ => None,
        }
    }
}

/// Severity, from the platform's scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Informational.
    Note,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] =
        [Severity::Note, Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The lowest risk score of this severity's band in the seed's table, which places a
    /// score-less event in a priority mapping.
    pub fn anchor_score(self) -> f64 {
        match self {
            Severity::Critical => 8.0,
            Severity::High => 6.0,
            Severity::Medium => 4.0,
            Severity::Low => 2.0,
            Severity::Note => 0.0,
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Severity::Note => "Note",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        };
        f.write_str(name)
    }
}

/// A set of severities as a bitmask: a filter check is one AND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeveritySet(u8);

impl SeveritySet {
    /// Every severity (the default filter).
    pub const ALL: SeveritySet = SeveritySet(0b1_1111);

    /// The set of `severities`; empty means all.
    pub fn of(severities: impl IntoIterator<Item = Severity>) -> Self {
        let bits = severities.into_iter().fold(0, |acc, s| acc | s.bit());
        if bits == 0 { Self::ALL } else { Self(bits) }
    }

    /// Whether `severity` is in the set.
    pub fn contains(self, severity: Severity) -> bool {
        self.0 & severity.bit() != 0
    }

    /// The members, lowest first.
    pub fn members(self) -> Vec<Severity> {
        Severity::ALL.into_iter().filter(|s| self.contains(*s)).collect()
    }
}

/// An event's status. Incidents are OPEN or RESOLVED; vulnerabilities OPEN, REMEDIATED or
/// CLOSED (closed without a fix: won't fix, false positive...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventStatus {
    /// Needs attention.
    Open,
    /// An incident dealt with.
    Resolved,
    /// A vulnerability fixed.
    Remediated,
    /// A vulnerability closed without a fix.
    Closed,
}

impl EventStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Open => "open",
            EventStatus::Resolved => "resolved",
            EventStatus::Remediated => "remediated",
            EventStatus::Closed => "closed",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(EventStatus::Open),
            "resolved" => Some(EventStatus::Resolved),
            "remediated" => Some(EventStatus::Remediated),
            "closed" => Some(EventStatus::Closed),
            _ => None,
        }
    }

    /// Whether an event of `trigger` may have this status.
    pub fn valid_for(self, trigger: Trigger) -> bool {
        match trigger {
            Trigger::Incident => matches!(self, EventStatus::Open | EventStatus::Resolved),
            Trigger::Vulnerability => !matches!(self, EventStatus::Resolved),
        }
    }

    /// Whether the finding is dealt with, so its tickets belong in Jira's `done` category.
    pub fn is_closed(self) -> bool {
        self != EventStatus::Open
    }
}
