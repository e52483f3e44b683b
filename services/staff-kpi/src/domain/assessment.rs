//! SK-3: an assessment is one revision of a person's figures in a period, with the score (the
//! weighted mean of the scored figures) and the grade the configured cut-offs give it.
//! Revisions are never changed: a recomputation that differs, or an upheld dispute, writes
//! the next one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::kpi::Figure;
use super::{Cause, Grade, div_round};

/// The lowest score of grades A, B and C, in tenths of a point; below C is D.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradeScale {
    pub a: i32,
    pub b: i32,
    pub c: i32,
}

impl GradeScale {
    pub fn grade(&self, score: i32) -> Grade {
        if score >= self.a {
            Grade::A
        } else if score >= self.b {
            Grade::B
        } else if score >= self.c {
            Grade::C
        } else {
            Grade::D
        }
    }
}

/// SK-3: the weighted mean of the scored figures, in tenths of a point. Without a scored
/// figure of the person's work (deductions alone say nothing of it) there is no score.
pub fn score(figures: &[Figure]) -> Option<i32> {
    let scored = || {
        figures
            .iter()
            .filter(|f| f.weight > 0)
            .filter_map(|f| Some((f, f.score?)))
    };
    if !scored().any(|(f, _)| !f.kpi.is_deduction()) {
        return None;
    }
    let weights: i64 = scored().map(|(f, _)| i64::from(f.weight)).sum();
    let total: i64 = scored()
        .map(|(f, s)| i64::from(f.weight) * i64::from(s))
        .sum();
    div_round(total, weights).and_then(|s| i32::try_from(s).ok())
}

/// One revision of a person's assessment in a period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    pub staff_id: String,
    pub period_id: String,
    pub revision: i32,
    pub cause: Cause,
    pub dispute_id: String,
    pub figures: Vec<Figure>,
    pub score: Option<i32>,
    pub grade: Option<Grade>,
    pub team_id: String,
    pub computed_at: DateTime<Utc>,
}

impl Assessment {
    /// Do `figures` say what this revision says? (A recomputation that does needs no new
    /// revision.)
    pub fn same_figures(&self, figures: &[Figure]) -> bool {
        self.figures == figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::kpi::Kpi;

    fn figure(kpi: Kpi, weight: i32, score: Option<i32>) -> Figure {
        Figure {
            kpi,
            formula_version: 1,
            weight,
            value: score.map(i64::from),
            numerator: 0,
            denominator: 0,
            score,
            source_count: 0,
        }
    }

    #[test]
    fn sk3_the_score_is_the_weighted_mean_of_scored_figures() {
        let figures = [
            figure(Kpi::Csat, 20, Some(900)),
            figure(Kpi::FirstResponseMet, 20, Some(950)),
            figure(Kpi::ComplaintsAgainst, 10, Some(800)),
            // No data, and no weight: neither counts.
            figure(Kpi::VisitsOnPlan, 10, None),
            figure(Kpi::Training, 0, Some(100)),
        ];
        // (20*900 + 20*950 + 10*800) / 50 = 900.
        assert_eq!(score(&figures), Some(900));
        let deductions_only = [
            figure(Kpi::ComplaintsAgainst, 10, Some(1000)),
            figure(Kpi::Conduct, 10, Some(1000)),
            figure(Kpi::Csat, 20, None),
        ];
        assert_eq!(score(&deductions_only), None, "no work, no score");
        // 2 * 667 + 1 * 0 = 1334 / 3 = 444.67 -> 445.
        let rounded = [
            figure(Kpi::Csat, 2, Some(667)),
            figure(Kpi::Conduct, 1, Some(0)),
        ];
        assert_eq!(score(&rounded), Some(445));
    }

    #[test]
    fn sk3_grades_follow_the_cut_offs_at_their_boundaries() {
        let scale = GradeScale {
            a: 900,
            b: 750,
            c: 600,
        };
        for (score, grade) in [
            (1000, Grade::A),
            (900, Grade::A),
            (899, Grade::B),
            (750, Grade::B),
            (749, Grade::C),
            (600, Grade::C),
            (599, Grade::D),
            (0, Grade::D),
        ] {
            assert_eq!(scale.grade(score), grade, "{score}");
        }
    }
}
