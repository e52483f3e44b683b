//! CR-3: a customer's grade A/B/C/D from a score over its nature, scale, sales volume and
//! growth trend. Weights and cut-offs are settings; each factor's score is explained.

use std::collections::BTreeMap;

use super::{GovernmentLevel, Grade, Kind, Tier};

/// CR-3's scoring model (settings; see `customer_registry.grades`).
#[derive(Clone, Debug, PartialEq)]
pub struct GradeModel {
    /// "nature", "scale", "sales_volume", "growth_trend" -> weight; they sum to 1.
    pub weights: BTreeMap<String, f64>,
    /// Lowest totals for A, B and C, descending.
    pub cutoffs: Vec<f64>,
    /// Annual spend that scores full on sales volume.
    pub full_volume_cny: i64,
}

/// What a grade is computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GradeFacts {
    /// Spend over the last 365 days, fen.
    pub annual_spend_fen: i64,
    /// Spend over the last 90 days, and over the 90 days before them, fen.
    pub recent_spend_fen: i64,
    pub previous_spend_fen: i64,
}

/// One factor's part of the score.
#[derive(Clone, Debug, PartialEq)]
pub struct Component {
    pub factor: &'static str,
    /// 0 to 100.
    pub score: f64,
    pub weight: f64,
    pub contribution: f64,
    pub basis: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub grade: Grade,
    pub total: f64,
    pub components: Vec<Component>,
}

/// Nature: what kind of body the customer is.
fn nature(kind: Kind, level: Option<GovernmentLevel>) -> (f64, String) {
    match (kind, level) {
        (Kind::Government, Some(GovernmentLevel::National)) => {
            (100.0, "national government body".into())
        }
        (Kind::Government, Some(GovernmentLevel::Provincial)) => {
            (85.0, "provincial government body".into())
        }
        (Kind::Government, _) => (70.0, "prefecture or city government body".into()),
        (Kind::Enterprise, _) => (70.0, "enterprise".into()),
        (Kind::Personal, _) => (30.0, "personal customer".into()),
    }
}

/// Scale: how large the customer is, as its tier says.
fn scale(tier: Tier) -> (f64, String) {
    let score = match tier {
        Tier::Large | Tier::GovernmentA => 100.0,
        Tier::Medium | Tier::GovernmentB | Tier::Frequent => 60.0,
        Tier::Small | Tier::GovernmentC => 30.0,
        Tier::Occasional => 10.0,
    };
    (score, format!("tier {}", tier.code()))
}

/// Sales volume: spend over a year against the volume that scores full.
fn sales_volume(facts: &GradeFacts, full_volume_cny: i64) -> (f64, String) {
    let full = (full_volume_cny.max(1) * 100) as f64;
    let score = (facts.annual_spend_fen as f64 / full * 100.0).clamp(0.0, 100.0);
    (
        score,
        format!(
            "annual spend {:.2} CNY",
            facts.annual_spend_fen as f64 / 100.0
        ),
    )
}

/// Growth trend: the last 90 days against the 90 before; 50 is flat, 100 doubled or more.
fn growth_trend(facts: &GradeFacts) -> (f64, String) {
    let previous = facts.previous_spend_fen.max(0) as f64;
    let recent = facts.recent_spend_fen.max(0) as f64;
    let change = if previous == 0.0 {
        if recent > 0.0 { 1.0 } else { 0.0 }
    } else {
        ((recent - previous) / previous).clamp(-1.0, 1.0)
    };
    (
        50.0 + 50.0 * change,
        format!(
            "last 90 days {:.2} CNY against {:.2} CNY before",
            recent / 100.0,
            previous / 100.0
        ),
    )
}

/// Scores a customer and grades it by the configured cut-offs.
pub fn score(
    kind: Kind,
    level: Option<GovernmentLevel>,
    tier: Tier,
    facts: &GradeFacts,
    settings: &GradeModel,
) -> Scored {
    let parts = [
        ("nature", nature(kind, level)),
        ("scale", scale(tier)),
        (
            "sales_volume",
            sales_volume(facts, settings.full_volume_cny),
        ),
        ("growth_trend", growth_trend(facts)),
    ];
    let components: Vec<Component> = parts
        .into_iter()
        .map(|(factor, (score, basis))| {
            let weight = settings.weights.get(factor).copied().unwrap_or(0.0);
            Component {
                factor,
                score,
                weight,
                contribution: score * weight,
                basis,
            }
        })
        .collect();
    let total = components.iter().map(|c| c.contribution).sum::<f64>();
    let cut = |i: usize| settings.cutoffs.get(i).copied().unwrap_or(f64::MAX);
    let grade = if total >= cut(0) {
        Grade::A
    } else if total >= cut(1) {
        Grade::B
    } else if total >= cut(2) {
        Grade::C
    } else {
        Grade::D
    };
    Scored {
        grade,
        total,
        components,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The embedded defaults' model (settings.rs holds the defaults to it).
    pub(crate) fn settings() -> GradeModel {
        GradeModel {
            weights: [
                ("nature", 0.2),
                ("scale", 0.3),
                ("sales_volume", 0.3),
                ("growth_trend", 0.2),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
            cutoffs: vec![75.0, 50.0, 25.0],
            full_volume_cny: 1_000_000,
        }
    }

    fn cny(n: i64) -> i64 {
        n * 100
    }

    #[test]
    fn cr3_a_large_growing_enterprise_is_a_and_a_quiet_person_is_d() {
        let big = GradeFacts {
            annual_spend_fen: cny(1_200_000),
            recent_spend_fen: cny(400_000),
            previous_spend_fen: cny(200_000),
        };
        let scored = score(Kind::Enterprise, None, Tier::Large, &big, &settings());
        // 0.2*70 + 0.3*100 + 0.3*100 + 0.2*100 = 94.
        assert!((scored.total - 94.0).abs() < 1e-9, "{}", scored.total);
        assert_eq!(scored.grade, Grade::A);
        let quiet = score(
            Kind::Personal,
            None,
            Tier::Occasional,
            &GradeFacts::default(),
            &settings(),
        );
        // 0.2*30 + 0.3*10 + 0 + 0.2*50 = 19.
        assert!((quiet.total - 19.0).abs() < 1e-9);
        assert_eq!(quiet.grade, Grade::D);
    }

    #[test]
    fn cr3_cut_offs_decide_at_their_boundaries() {
        let mut s = settings();
        // Only sales volume counts: the score is the spend's share of the full volume.
        s.weights = [
            ("nature", 0.0),
            ("scale", 0.0),
            ("sales_volume", 1.0),
            ("growth_trend", 0.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let grade = |spend_cny: i64| {
            let facts = GradeFacts {
                annual_spend_fen: cny(spend_cny),
                ..Default::default()
            };
            score(Kind::Enterprise, None, Tier::Small, &facts, &s).grade
        };
        assert_eq!(grade(750_000), Grade::A);
        assert_eq!(grade(749_999), Grade::B);
        assert_eq!(grade(500_000), Grade::B);
        assert_eq!(grade(499_999), Grade::C);
        assert_eq!(grade(250_000), Grade::C);
        assert_eq!(grade(249_999), Grade::D);
    }

    #[test]
    fn cr3_the_score_is_explained_by_its_four_parts() {
        let facts = GradeFacts {
            annual_spend_fen: cny(100_000),
            recent_spend_fen: 0,
            previous_spend_fen: cny(10_000),
        };
        let scored = score(
            Kind::Government,
            Some(GovernmentLevel::Provincial),
            Tier::GovernmentB,
            &facts,
            &settings(),
        );
        let factors: Vec<&str> = scored.components.iter().map(|c| c.factor).collect();
        assert_eq!(factors, ["nature", "scale", "sales_volume", "growth_trend"]);
        let growth = &scored.components[3];
        assert_eq!(growth.score, 0.0, "spend fell to nothing");
        assert!(growth.basis.contains("last 90 days 0.00 CNY"));
        let sum: f64 = scored.components.iter().map(|c| c.contribution).sum();
        assert!((sum - scored.total).abs() < 1e-9);
    }
}
