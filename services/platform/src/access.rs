//! Object-level access, the same in every service (ARCHITECTURE: "an agent sees the customers
//! and cases assigned to them or their team"): who asks, who serves a customer, and whether
//! the one may reach what the others serve.

/// Who asks, as object-level rules need to know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub subject: String,
    /// Agents reach only what they own or visit, or their team's.
    pub restricted_to_own: bool,
    pub team: String,
}

impl Viewer {
    /// Whoever reaches everything (a supervisor, a manager, another system, a scheduled pass).
    pub fn everyone() -> Self {
        Self {
            subject: String::new(),
            restricted_to_own: false,
            team: String::new(),
        }
    }

    /// May this viewer reach what `stewards` serve? Nothing served by no one known is an
    /// agent's.
    pub fn reaches(&self, stewards: Option<&Stewards>) -> bool {
        if !self.restricted_to_own {
            return true;
        }
        stewards.is_some_and(|s| {
            s.owner_id == self.subject
                || s.visitor_id == self.subject
                || (!self.team.is_empty() && s.team_id == self.team)
        })
    }
}

/// Who serves a customer: its team, account owner and visitor (CR-4).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stewards {
    pub team_id: String,
    pub owner_id: String,
    pub visitor_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(subject: &str, team: &str) -> Viewer {
        Viewer {
            subject: subject.into(),
            restricted_to_own: true,
            team: team.into(),
        }
    }

    #[test]
    fn agents_reach_their_own_and_their_teams_others_reach_all() {
        let s = Stewards {
            team_id: "t1".into(),
            owner_id: "a-owner".into(),
            visitor_id: "a-visitor".into(),
        };
        assert!(agent("a-x", "t1").reaches(Some(&s)), "same team");
        assert!(agent("a-owner", "t2").reaches(Some(&s)), "the owner");
        assert!(agent("a-visitor", "").reaches(Some(&s)), "the visitor");
        assert!(!agent("a-x", "t2").reaches(Some(&s)), "another team's");
        let unteamed = Stewards::default();
        assert!(
            !agent("a-x", "").reaches(Some(&unteamed)),
            "no team is not everyone's team"
        );
        assert!(!agent("a-x", "t1").reaches(None), "served by no one known");
        assert!(Viewer::everyone().reaches(None));
    }
}
