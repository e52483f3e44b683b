//! SV-2: the three measures, exactly as the rules define them, in integer arithmetic. Each
//! is in tenths of a percent, rounded half away from zero: CSAT and effort are the share of 4
//! and 5 answers (0 to 1000), NPS the share of 9 and 10 minus the share of 0 to 6 (-1000 to
//! 1000). No answers is no data, never zero.

/// One measure over a set of answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Score {
    pub answers: i64,
    /// `None` when there were no answers.
    pub tenths: Option<i32>,
}

/// `numerator / denominator` in tenths of a percent, rounded half away from zero.
fn tenths(numerator: i64, denominator: i64) -> Option<i32> {
    if denominator <= 0 {
        return None;
    }
    let scaled = numerator * 1000;
    let magnitude = (scaled.abs() * 2 + denominator) / (2 * denominator);
    i32::try_from(magnitude * scaled.signum()).ok()
}

/// CSAT: the share of 4 and 5 among 1-5 answers.
pub fn csat(answers: &[i32]) -> Score {
    share_of_top_two(answers)
}

/// Effort: the share of 4 and 5 among 1-5 answers (5: least effort).
pub fn effort(answers: &[i32]) -> Score {
    share_of_top_two(answers)
}

fn share_of_top_two(answers: &[i32]) -> Score {
    let n = answers.len() as i64;
    let top = answers.iter().filter(|a| **a >= 4).count() as i64;
    Score {
        answers: n,
        tenths: tenths(top, n),
    }
}

/// NPS: promoters (9-10) less detractors (0-6), as a share of all 0-10 answers.
pub fn nps(answers: &[i32]) -> Score {
    let n = answers.len() as i64;
    let promoters = answers.iter().filter(|a| **a >= 9).count() as i64;
    let detractors = answers.iter().filter(|a| **a <= 6).count() as i64;
    Score {
        answers: n,
        tenths: tenths(promoters - detractors, n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sv2_csat_and_effort_are_the_share_of_four_and_five() {
        // 4, 5, 5 of 1, 2, 3, 4, 5, 5, 3: 3/7 = 42.857..% -> 428.6 tenths -> 429.
        assert_eq!(
            csat(&[1, 2, 3, 4, 5, 5, 3]),
            Score {
                answers: 7,
                tenths: Some(429)
            }
        );
        assert_eq!(csat(&[5, 5, 4]).tenths, Some(1000), "all satisfied");
        assert_eq!(
            csat(&[1, 2, 3]).tenths,
            Some(0),
            "none satisfied is zero, with data"
        );
        assert_eq!(effort(&[4, 3]).tenths, Some(500));
        // 1/8 = 12.5% -> 125 exactly; 2/3 = 66.666..% -> 667 (half up).
        assert_eq!(csat(&[5, 1, 1, 1, 1, 1, 1, 1]).tenths, Some(125));
        assert_eq!(csat(&[5, 5, 1]).tenths, Some(667));
    }

    #[test]
    fn sv2_nps_is_promoters_less_detractors_from_minus_to_plus_one_hundred() {
        assert_eq!(nps(&[9, 10, 10]).tenths, Some(1000), "all promoters");
        assert_eq!(nps(&[0, 6, 3]).tenths, Some(-1000), "all detractors");
        assert_eq!(nps(&[7, 8]).tenths, Some(0), "all passive");
        // 10, 9, 8, 6, 0, 10: promoters 3, detractors 2, of 6: 1/6 = 16.666..% -> 167.
        assert_eq!(
            nps(&[10, 9, 8, 6, 0, 10]),
            Score {
                answers: 6,
                tenths: Some(167)
            }
        );
        // 9, 0, 0: -1/3 = -33.333..% -> -333; rounding is away from zero on a half.
        assert_eq!(nps(&[9, 0, 0]).tenths, Some(-333));
        // -1/8 = -12.5% -> -125 exactly; -3/16 = -18.75% -> -187.5 -> -188.
        assert_eq!(nps(&[0, 7, 7, 7, 7, 7, 7, 7]).tenths, Some(-125));
        let mut sixteen = vec![7; 13];
        sixteen.extend([0, 0, 0]);
        assert_eq!(nps(&sixteen).tenths, Some(-188));
    }

    #[test]
    fn sv2_no_answers_is_no_data_not_zero() {
        for score in [csat(&[]), nps(&[]), effort(&[])] {
            assert_eq!(
                score,
                Score {
                    answers: 0,
                    tenths: None
                }
            );
        }
    }
}
