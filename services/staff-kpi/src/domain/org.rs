//! SK-1: the organisation: people with a role, a team and someone they report to, joining and
//! leaving; teams with a supervisor inside a parent team. The checks that need no lookup live
//! here; that a team or a manager exists is the use case's to ask the store.

use chrono::{DateTime, Utc};
use kefu_platform::error::{FieldViolation, Violations};
use serde::{Deserialize, Serialize};

use super::{Refusal, StaffRole, StaffState, check_version, invalid};

/// Longest id, name and region.
const MAX_ID: usize = 64;
const MAX_NAME: usize = 200;
const MAX_REGION: usize = 32;

/// Ids are what tokens carry as subject and team: letters, digits, '-', '_' and '.'.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staff {
    pub id: String,
    pub display_name: String,
    pub role: StaffRole,
    pub team_id: String,
    pub manager_id: String,
    pub sales_region: String,
    pub state: StaffState,
    pub joined_at: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a request says of a person.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaffDraft {
    pub id: String,
    pub display_name: String,
    pub role: Option<StaffRole>,
    pub team_id: String,
    pub manager_id: String,
    pub sales_region: String,
    pub joined_at: Option<DateTime<Utc>>,
}

/// The fields UpdateStaff may change.
pub const STAFF_PATHS: [&str; 5] = [
    "display_name",
    "role",
    "team_id",
    "manager_id",
    "sales_region",
];

fn check_person(
    v: &mut Violations,
    display_name: &str,
    role: Option<StaffRole>,
    team_id: &str,
    sales_region: &str,
) {
    let name = display_name.trim();
    v.check(
        !name.is_empty() && name.chars().count() <= MAX_NAME,
        "staff.display_name",
        format!("required: at most {MAX_NAME} characters"),
    );
    match role {
        None => v.add("staff.role", "required"),
        Some(role) => {
            if matches!(role, StaffRole::Agent | StaffRole::Salesperson) {
                v.check(
                    !team_id.is_empty(),
                    "staff.team_id",
                    "required for agents and salespeople",
                );
            }
            let region = sales_region.trim();
            if role == StaffRole::Salesperson {
                v.check(
                    !region.is_empty() && region.len() <= MAX_REGION && !region.contains(' '),
                    "staff.sales_region",
                    format!("required for salespeople: a region code of at most {MAX_REGION} characters (CR-4)"),
                );
            } else {
                v.check(
                    region.is_empty(),
                    "staff.sales_region",
                    "only salespeople sell in a region",
                );
            }
        }
    }
    v.check(
        team_id.is_empty() || valid_id(team_id),
        "staff.team_id",
        "not a team id",
    );
}

impl Staff {
    /// SK-1: a person joins.
    pub fn join(draft: &StaffDraft, now: DateTime<Utc>) -> Result<Staff, Refusal> {
        let mut v = Violations::new();
        v.check(
            valid_id(&draft.id),
            "staff.id",
            format!("required: 1 to {MAX_ID} letters, digits, '-', '_' or '.'"),
        );
        check_person(
            &mut v,
            &draft.display_name,
            draft.role,
            &draft.team_id,
            &draft.sales_region,
        );
        v.check(
            draft.manager_id != draft.id,
            "staff.manager_id",
            "nobody reports to themselves",
        );
        let joined_at = draft.joined_at.unwrap_or(now);
        v.check(
            joined_at <= now,
            "staff.join_time",
            "not in the future: record the person when they join",
        );
        v.finish()?;
        Ok(Staff {
            id: draft.id.clone(),
            display_name: draft.display_name.trim().to_owned(),
            role: draft.role.unwrap_or(StaffRole::Agent),
            team_id: draft.team_id.clone(),
            manager_id: draft.manager_id.clone(),
            sales_region: draft.sales_region.trim().to_owned(),
            state: StaffState::Active,
            joined_at,
            left_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }

    /// SK-1: the fields in `paths` take `draft`'s values; answers the paths that changed.
    pub fn change(
        &mut self,
        expected_version: i64,
        paths: &[String],
        draft: &StaffDraft,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, Refusal> {
        check_version("person", self.version, expected_version)?;
        self.check_active("changed")?;
        let mut next = self.clone();
        for path in paths {
            match path.as_str() {
                "display_name" => next.display_name = draft.display_name.trim().to_owned(),
                "role" => {
                    next.role = draft
                        .role
                        .ok_or_else(|| invalid("staff.role", "required"))?;
                }
                "team_id" => next.team_id.clone_from(&draft.team_id),
                "manager_id" => next.manager_id.clone_from(&draft.manager_id),
                "sales_region" => next.sales_region = draft.sales_region.trim().to_owned(),
                other => {
                    return Err(invalid(
                        &format!("update_mask.paths[{other}]"),
                        format!("not updatable; updatable: {}", STAFF_PATHS.join(", ")),
                    ));
                }
            }
        }
        let mut v = Violations::new();
        check_person(
            &mut v,
            &next.display_name,
            Some(next.role),
            &next.team_id,
            &next.sales_region,
        );
        v.check(
            next.manager_id != next.id,
            "staff.manager_id",
            "nobody reports to themselves",
        );
        v.finish()?;
        let changed: Vec<String> = STAFF_PATHS
            .iter()
            .filter(|p| match **p {
                "display_name" => next.display_name != self.display_name,
                "role" => next.role != self.role,
                "team_id" => next.team_id != self.team_id,
                "manager_id" => next.manager_id != self.manager_id,
                _ => next.sales_region != self.sales_region,
            })
            .map(|p| (*p).to_owned())
            .collect();
        if !changed.is_empty() {
            next.version += 1;
            next.updated_at = now;
        }
        *self = next;
        Ok(changed)
    }

    /// SK-1: the person leaves; what they did stays on record.
    pub fn leave(
        &mut self,
        expected_version: i64,
        at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        check_version("person", self.version, expected_version)?;
        self.check_active("leave again")?;
        let at = at.unwrap_or(now);
        if at < self.joined_at || at > now {
            return Err(invalid(
                "leave_time",
                "between the day the person joined and now",
            ));
        }
        self.state = StaffState::Left;
        self.left_at = Some(at);
        self.version += 1;
        self.updated_at = now;
        Ok(())
    }

    fn check_active(&self, doing: &str) -> Result<(), Refusal> {
        match self.state {
            StaffState::Active => Ok(()),
            StaffState::Left => Err(Refusal::Precondition(format!(
                "{} has left and cannot be {doing}",
                self.id
            ))),
        }
    }

    /// Was the person with us at some time in `[start, end)`?
    pub fn active_during(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.joined_at < end && self.left_at.is_none_or(|left| left >= start)
    }

    /// May lead a team?
    pub fn leads(&self) -> bool {
        self.state == StaffState::Active
            && matches!(self.role, StaffRole::Supervisor | StaffRole::Manager)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub display_name: String,
    pub supervisor_id: String,
    pub parent_team_id: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a request says of a team.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeamDraft {
    pub id: String,
    pub display_name: String,
    pub supervisor_id: String,
    pub parent_team_id: String,
}

/// The fields UpdateTeam may change.
pub const TEAM_PATHS: [&str; 3] = ["display_name", "supervisor_id", "parent_team_id"];

fn check_team(v: &mut Violations, team: &Team) {
    let name = team.display_name.trim();
    v.check(
        !name.is_empty() && name.chars().count() <= MAX_NAME,
        "team.display_name",
        format!("required: at most {MAX_NAME} characters"),
    );
    v.check(
        team.parent_team_id != team.id,
        "team.parent_team_id",
        "a team is not its own parent",
    );
}

impl Team {
    pub fn create(draft: &TeamDraft, now: DateTime<Utc>) -> Result<Team, Vec<FieldViolation>> {
        let team = Team {
            id: draft.id.clone(),
            display_name: draft.display_name.trim().to_owned(),
            supervisor_id: draft.supervisor_id.clone(),
            parent_team_id: draft.parent_team_id.clone(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut v = Violations::new();
        v.check(
            valid_id(&draft.id),
            "team.id",
            format!("required: 1 to {MAX_ID} letters, digits, '-', '_' or '.'"),
        );
        check_team(&mut v, &team);
        v.finish()?;
        Ok(team)
    }

    pub fn change(
        &mut self,
        expected_version: i64,
        paths: &[String],
        draft: &TeamDraft,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        check_version("team", self.version, expected_version)?;
        let mut next = self.clone();
        for path in paths {
            match path.as_str() {
                "display_name" => next.display_name = draft.display_name.trim().to_owned(),
                "supervisor_id" => next.supervisor_id.clone_from(&draft.supervisor_id),
                "parent_team_id" => next.parent_team_id.clone_from(&draft.parent_team_id),
                other => {
                    return Err(invalid(
                        &format!("update_mask.paths[{other}]"),
                        format!("not updatable; updatable: {}", TEAM_PATHS.join(", ")),
                    ));
                }
            }
        }
        let mut v = Violations::new();
        check_team(&mut v, &next);
        v.finish()?;
        if next != *self {
            next.version += 1;
            next.updated_at = now;
        }
        *self = next;
        Ok(())
    }
}

/// Does following `up` from `start` (a manager, a parent team) ever reach `id`? A chain that
/// never ends (stored data that already loops) counts as reaching it.
pub fn leads_back_to(id: &str, start: &str, mut up: impl FnMut(&str) -> Option<String>) -> bool {
    let mut at = start.to_owned();
    for _ in 0..10_000 {
        if at.is_empty() {
            return false;
        }
        if at == id {
            return true;
        }
        match up(&at) {
            Some(next) => at = next,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::domain::fact::sample::at;

    fn draft(role: StaffRole) -> StaffDraft {
        StaffDraft {
            id: "ann".into(),
            display_name: "Ann Wu".into(),
            role: Some(role),
            team_id: "hotline".into(),
            ..Default::default()
        }
    }

    fn fields(refusal: Refusal) -> Vec<String> {
        match refusal {
            Refusal::Invalid(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sk1_people_join_with_a_role_their_team_and_a_region_only_when_they_sell() {
        let now = at("2026-11-01T00:00:00Z");
        let ann = Staff::join(&draft(StaffRole::Agent), now).unwrap();
        assert_eq!(
            (ann.state, ann.version, ann.joined_at),
            (StaffState::Active, 1, now)
        );
        let no_team = StaffDraft {
            team_id: String::new(),
            ..draft(StaffRole::Agent)
        };
        assert_eq!(
            fields(Staff::join(&no_team, now).unwrap_err()),
            ["staff.team_id"]
        );
        assert_eq!(
            fields(Staff::join(&draft(StaffRole::Salesperson), now).unwrap_err()),
            ["staff.sales_region"]
        );
        let seller = StaffDraft {
            sales_region: "350102".into(),
            ..draft(StaffRole::Salesperson)
        };
        assert_eq!(Staff::join(&seller, now).unwrap().sales_region, "350102");
        let agent_with_region = StaffDraft {
            sales_region: "350102".into(),
            ..draft(StaffRole::Agent)
        };
        assert_eq!(
            fields(Staff::join(&agent_with_region, now).unwrap_err()),
            ["staff.sales_region"]
        );
        let bad = StaffDraft {
            id: "ann wu".into(),
            display_name: " ".into(),
            role: None,
            manager_id: "ann wu".into(),
            joined_at: Some(at("2026-12-01T00:00:00Z")),
            ..Default::default()
        };
        assert_eq!(
            fields(Staff::join(&bad, now).unwrap_err()),
            [
                "staff.id",
                "staff.display_name",
                "staff.role",
                "staff.manager_id",
                "staff.join_time"
            ]
        );
    }

    #[test]
    fn sk1_a_change_takes_the_version_read_and_says_what_changed() {
        let now = at("2026-11-01T00:00:00Z");
        let mut ann = Staff::join(&draft(StaffRole::Agent), now).unwrap();
        let to = StaffDraft {
            team_id: "email".into(),
            manager_id: "sue".into(),
            ..draft(StaffRole::Agent)
        };
        let paths = vec!["team_id".to_owned(), "manager_id".to_owned()];
        assert!(matches!(
            ann.change(2, &paths, &to, now),
            Err(Refusal::Stale(_))
        ));
        let changed = ann.change(1, &paths, &to, now).unwrap();
        assert_eq!(changed, ["team_id", "manager_id"]);
        assert_eq!((ann.team_id.as_str(), ann.version), ("email", 2));
        assert!(ann.change(2, &paths, &to, now).unwrap().is_empty());
        assert_eq!(ann.version, 2, "nothing changed, no new version");
        let bad = vec!["state".to_owned()];
        assert_eq!(
            fields(ann.change(2, &bad, &to, now).unwrap_err()),
            ["update_mask.paths[state]"]
        );
    }

    #[test]
    fn sk1_leaving_is_once_between_joining_and_now_and_ends_changes() {
        let joined = at("2026-01-01T00:00:00Z");
        let now = at("2026-11-01T00:00:00Z");
        let mut ann = Staff::join(
            &StaffDraft {
                joined_at: Some(joined),
                ..draft(StaffRole::Agent)
            },
            now,
        )
        .unwrap();
        assert!(matches!(
            ann.leave(1, Some(at("2025-12-31T00:00:00Z")), now),
            Err(Refusal::Invalid(_))
        ));
        ann.leave(1, Some(at("2026-10-15T00:00:00Z")), now).unwrap();
        assert_eq!(ann.state, StaffState::Left);
        assert!(ann.active_during(at("2026-10-01T00:00:00Z"), at("2026-11-01T00:00:00Z")));
        assert!(!ann.active_during(at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z")));
        assert!(!ann.active_during(at("2025-12-01T00:00:00Z"), at("2026-01-01T00:00:00Z")));
        assert!(matches!(
            ann.leave(2, None, now),
            Err(Refusal::Precondition(_))
        ));
        let paths = vec!["team_id".to_owned()];
        assert!(matches!(
            ann.change(2, &paths, &draft(StaffRole::Agent), now),
            Err(Refusal::Precondition(_))
        ));
    }

    #[test]
    fn sk1_reporting_lines_and_team_trees_never_loop() {
        let managers: HashMap<&str, &str> = [("ann", "sue"), ("sue", "max"), ("max", "")].into();
        let up = |id: &str| managers.get(id).map(|m| (*m).to_owned());
        // max reporting to ann would close the loop ann -> sue -> max -> ann.
        assert!(leads_back_to("max", "ann", up));
        assert!(!leads_back_to("ann", "max", up));
        assert!(!leads_back_to("ann", "", up));
        let looped: HashMap<&str, &str> = [("a", "b"), ("b", "a")].into();
        assert!(leads_back_to("x", "a", |id| looped
            .get(id)
            .map(|m| (*m).to_owned())));
    }

    #[test]
    fn sk1_teams_have_a_name_and_are_not_their_own_parent() {
        let now = at("2026-11-01T00:00:00Z");
        let bad = TeamDraft {
            id: "hotline".into(),
            display_name: String::new(),
            parent_team_id: "hotline".into(),
            ..Default::default()
        };
        let refused: Vec<_> = Team::create(&bad, now)
            .unwrap_err()
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(refused, ["team.display_name", "team.parent_team_id"]);
        let good = TeamDraft {
            display_name: "Hotline".into(),
            parent_team_id: "service".into(),
            ..bad
        };
        let mut team = Team::create(&good, now).unwrap();
        let paths = vec!["supervisor_id".to_owned()];
        let to = TeamDraft {
            supervisor_id: "sue".into(),
            ..good
        };
        assert!(matches!(
            team.change(2, &paths, &to, now),
            Err(Refusal::Stale(_))
        ));
        team.change(1, &paths, &to, now).unwrap();
        assert_eq!((team.supervisor_id.as_str(), team.version), ("sue", 2));
    }
}
