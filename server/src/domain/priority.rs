//! Risk score to Jira priority: bands `{min_score, priority}`, as api.md defines them.
use super::model::Severity;

/// One band: scores from `min_score` up to the next band's `min_score` map to `priority`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Band {
    /// The lowest score of the band.
    pub min_score: f64,
    /// The Jira priority name (or the severity field's option).
    pub priority: String,
}

/// A validated mapping: the first band at 0.0, `min_score`s strictly increasing within 0..=10.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PriorityMapping(Vec<Band>);

/// A mapping the rules refuse, with the index of the offending band.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    /// A band's score is outside 0.0–10.0 or not a number.
    #[error("band {0}: min_score must be between 0.0 and 10.0")]
    OutOfRange(usize),
    /// The first band does not start at 0.0, so low scores would have no priority.
    #[error("band 0: the first band must start at 0.0")]
    FirstNotZero,
    /// Scores do not strictly increase.
    #[error("band {0}: min_score must be greater than the previous band's")]
    NotIncreasing(usize),
    /// A band names no priority, or one longer than Jira's 255 characters.
    #[error("band {0}: priority must be 1 to 255 characters")]
    BadPriority(usize),
    /// Too many bands.
    #[error("at most 20 bands")]
    TooMany,
}

impl Default for PriorityMapping {
    /// The seed's table: 8.0 Highest, 6.0 High, 4.0 Medium, 2.0 Low, 0.0 Lowest.
    fn default() -> Self {
        let band = |min_score: f64, p: &str| Band { min_score, priority: p.to_owned() };
        Self(vec![band(0.0, "Lowest"), band(2.0, "Low"), band(4.0, "Medium"), band(6.0, "High"), band(8.0, "Highest")])
    }
}

impl PriorityMapping {
    /// Validates bands; an empty list means the default mapping. Bands may come in any order.
    pub fn new(mut bands: Vec<Band>) -> Result<Self, MappingError> {
        if bands.is_empty() {
            return Ok(Self::default());
        }
        if bands.len() > 20 {
            return Err(MappingError::TooMany);
        }
        for (i, band) in bands.iter().enumerate() {
            if !(0.0..=10.0).contains(&band.min_score) {
                return Err(MappingError::OutOfRange(i));
            }
            if band.priority.trim().is_empty() || band.priority.chars().count() > 255 || band.priority.contains('\0') {
                return Err(MappingError::BadPriority(i));
            }
        }
        bands.sort_by(|a, b| a.min_score.total_cmp(&b.min_score));
        if bands[0].min_score != 0.0 {
            return Err(MappingError::FirstNotZero);
        }
        if let Some(i) = bands.windows(2).position(|w| w[1].min_score <= w[0].min_score) {
            return Err(MappingError::NotIncreasing(i + 1));
        }
        Ok(Self(bands))
    }

    /// The bands, lowest first.
    pub fn bands(&self) -> &[Band] {
        &self.0
    }

    /// The priority of a score: the band with the highest `min_score` not above it. Scores
    /// outside 0..=10 are clamped.
    pub fn for_score(&self, score: f64) -> &str {
        let score = if score.is_nan() { 0.0 } else { score.clamp(0.0, 10.0) };
        let band = self.0.iter().rev().find(|b| b.min_score <= score).unwrap_or(&self.0[0]);
        &band.priority
    }

    /// The priority of an event: by risk score when it has one, else by its severity's anchor
    /// score (so an incident's CRITICAL is Highest under the default mapping).
    pub fn for_event(&self, risk_score: Option<f64>, severity: Severity) -> &str {
        self.for_score(risk_score.unwrap_or_else(|| severity.anchor_score()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_matches_the_seed() {
        let m = PriorityMapping::default();
        for (score, expected) in [
            (10.0, "Highest"),
            (8.0, "Highest"),
            (7.9, "High"),
            (6.0, "High"),
            (5.9, "Medium"),
            (4.0, "Medium"),
            (3.9, "Low"),
            (2.0, "Low"),
            (1.9, "Lowest"),
            (0.0, "Lowest"),
        ] {
            assert_eq!(m.for_score(score), expected, "{score}");
        }
        assert_eq!(m.for_event(None, Severity::Critical), "Highest");
        assert_eq!(m.for_event(None, Severity::Note), "Lowest");
        assert_eq!(m.for_event(Some(9.1), Severity::Low), "Highest");
    }

    #[test]
    fn bands_are_validated() {
        let b = |s: f64, p: &str| Band { min_score: s, priority: p.into() };
        assert_eq!(PriorityMapping::new(vec![b(1.0, "A")]), Err(MappingError::FirstNotZero));
        assert_eq!(PriorityMapping::new(vec![b(0.0, "A"), b(0.0, "B")]), Err(MappingError::NotIncreasing(1)));
        assert_eq!(PriorityMapping::new(vec![b(0.0, "A"), b(11.0, "B")]), Err(MappingError::OutOfRange(1)));
        assert_eq!(PriorityMapping::new(vec![b(0.0, " ")]), Err(MappingError::BadPriority(0)));
        let custom = PriorityMapping::new(vec![b(5.0, "P1"), b(0.0, "P3")]).unwrap();
        assert_eq!(custom.for_score(4.99), "P3");
        assert_eq!(custom.for_score(5.0), "P1");
    }
}
