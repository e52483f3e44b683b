//! Who sees what in survey: agents work the invitations (the call list), responses, opt-outs
//! and follow-up tasks of their team's customers; supervisors, managers and other systems
//! see all.

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SurveyViewer {
    Everyone,
    Team { team: String },
}

impl SurveyViewer {
    /// May this viewer reach what belongs to a customer of `team`? No team is nobody's team.
    pub fn sees(&self, team: &str) -> bool {
        match self {
            SurveyViewer::Everyone => true,
            SurveyViewer::Team { team: own } => !own.is_empty() && own == team,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_reach_their_teams_customers_only() {
        let agent = SurveyViewer::Team { team: "t1".into() };
        assert!(agent.sees("t1"));
        assert!(!agent.sees("t2"));
        assert!(
            !SurveyViewer::Team {
                team: String::new()
            }
            .sees("")
        );
        assert!(SurveyViewer::Everyone.sees(""));
    }
}
