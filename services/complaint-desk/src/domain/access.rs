//! Who sees which case: an agent the cases of its team and those assigned to it; a
//! supervisor with a department the cases of the department's teams (and its own team's,
//! and those assigned to it); everyone else (managers, supervisors of no department, other
//! systems, the service itself) every case.

use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaseViewer {
    Everyone,
    Restricted {
        subject: String,
        teams: BTreeSet<String>,
    },
}

impl CaseViewer {
    pub fn agent(subject: &str, team: &str) -> Self {
        Self::restricted(subject, [team])
    }

    /// A supervisor of a department made of `department_teams`, itself on `team`.
    pub fn supervisor<'a>(
        subject: &str,
        team: &'a str,
        department_teams: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        Self::restricted(subject, department_teams.into_iter().chain([team]))
    }

    fn restricted<'a>(subject: &str, teams: impl IntoIterator<Item = &'a str>) -> Self {
        CaseViewer::Restricted {
            subject: subject.to_owned(),
            // No team is nobody's team: a case of no team is seen by its assignee only.
            teams: teams
                .into_iter()
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    pub fn sees(&self, team_id: &str, assignee_id: &str) -> bool {
        match self {
            CaseViewer::Everyone => true,
            CaseViewer::Restricted { subject, teams } => {
                (!assignee_id.is_empty() && assignee_id == subject) || teams.contains(team_id)
            }
        }
    }

    /// May this viewer move a case to `team`? Agents keep cases in their own teams.
    pub fn may_hand_to(&self, team: &str) -> bool {
        match self {
            CaseViewer::Everyone => true,
            CaseViewer::Restricted { teams, .. } => teams.contains(team),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_see_their_teams_and_their_own_cases_supervisors_their_departments() {
        let agent = CaseViewer::agent("a1", "t1");
        assert!(agent.sees("t1", ""));
        assert!(agent.sees("t9", "a1"), "assigned to it");
        assert!(!agent.sees("t2", "a2"));
        assert!(
            !CaseViewer::agent("a1", "").sees("", ""),
            "no team is not a team"
        );
        let supervisor = CaseViewer::supervisor("s1", "t0", ["t1", "t2"]);
        assert!(supervisor.sees("t2", "a2") && supervisor.sees("t0", ""));
        assert!(!supervisor.sees("t3", "a3"));
        assert!(CaseViewer::Everyone.sees("anything", ""));
        assert!(agent.may_hand_to("t1") && !agent.may_hand_to("t2"));
    }
}
