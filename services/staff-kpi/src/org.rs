//! SK-1: the organisation's use cases: people join, change and leave; teams are made and
//! changed. Each change checks what the organisation must keep true (teams and managers
//! exist and are active, nobody reports to themselves through others, no team contains
//! itself, nobody leaves still leading) and is written with its event.

use chrono::Utc;
use kefu_platform::error::Violations;
use kefu_platform::paging;
use sea_orm::ConnectionTrait;

use crate::department::{Department, Page, Requester, Retry, replayed};
use crate::domain::org::{Staff, StaffDraft, Team, TeamDraft, leads_back_to};
use crate::domain::{StaffRole, StaffState};
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::store::{self, StaffFilter};

impl Department {
    /// The team and the manager a person names exist, are active, and close no loop.
    async fn check_links<C: ConnectionTrait>(&self, db: &C, s: &Staff) -> Result<()> {
        let mut v = Violations::new();
        if !s.team_id.is_empty() && store::team(db, &s.team_id, false).await?.is_none() {
            v.add("staff.team_id", format!("no team {}", s.team_id));
        }
        if !s.manager_id.is_empty() {
            match store::staff(db, &s.manager_id, false).await? {
                None => v.add("staff.manager_id", format!("nobody is {}", s.manager_id)),
                Some(m) if m.state != StaffState::Active => {
                    v.add("staff.manager_id", format!("{} has left", m.id));
                }
                Some(_) => {
                    let mut chain = Vec::new();
                    let mut at = s.manager_id.clone();
                    // The manager's own line, up to its top, read once.
                    for _ in 0..64 {
                        let Some(up) = store::staff(db, &at, false).await? else {
                            break;
                        };
                        chain.push((up.id.clone(), up.manager_id.clone()));
                        if up.manager_id.is_empty() {
                            break;
                        }
                        at = up.manager_id;
                    }
                    let up = |id: &str| {
                        chain
                            .iter()
                            .find(|(who, _)| who == id)
                            .map(|(_, m)| m.clone())
                    };
                    if leads_back_to(&s.id, &s.manager_id, up) {
                        v.add(
                            "staff.manager_id",
                            format!("{} reports to {} already", s.manager_id, s.id),
                        );
                    }
                }
            }
        }
        Ok(v.finish()?)
    }

    /// SK-1: a person joins.
    pub(crate) async fn create_staff(
        &self,
        who: &Requester,
        retry: &Retry,
        draft: &StaffDraft,
    ) -> Result<Staff> {
        let now = Utc::now();
        let staff = Staff::join(draft, now)?;
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.staff(&id).await,
        };
        let txn = &mutation.txn;
        self.check_links(txn, &staff).await?;
        if !store::insert_staff(txn, &staff).await? {
            return Err(Error::AlreadyExists(format!("person {}", staff.id)));
        }
        events::staff_joined(txn, &staff).await?;
        self.commit(mutation, &staff.id).await?;
        Ok(staff)
    }

    pub(crate) async fn staff(&self, id: &str) -> Result<Staff> {
        if id.trim().is_empty() {
            return Err(invalid("staff_id", "required"));
        }
        store::staff(&self.db, id.trim(), false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("person {id}")))
    }

    pub(crate) async fn list_staff(
        &self,
        filter: StaffFilter,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Staff>> {
        let rows = store::list_staff(&self.db, &filter, after.as_deref(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |s| &s.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    /// SK-1: a new role, team, manager or region.
    pub(crate) async fn update_staff(
        &self,
        who: &Requester,
        retry: &Retry,
        draft: &StaffDraft,
        paths: &[String],
        expected_version: i64,
    ) -> Result<Staff> {
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.staff(&id).await,
        };
        let txn = &mutation.txn;
        let mut staff = store::staff(txn, &draft.id, true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("person {}", draft.id)))?;
        let before = staff.clone();
        let changed = staff.change(expected_version, paths, draft, Utc::now())?;
        if changed.is_empty() {
            return Ok(before);
        }
        self.check_links(txn, &staff).await?;
        if before.role != staff.role
            && !matches!(staff.role, StaffRole::Supervisor | StaffRole::Manager)
        {
            let led = store::still_leads(txn, &staff.id).await?;
            if led.iter().any(|l| l.starts_with("team ")) {
                return Err(Error::FailedPrecondition(format!(
                    "{} leads {}; hand it over before the role changes",
                    staff.id,
                    led.join(", ")
                )));
            }
        }
        store::update_staff(txn, &staff).await?;
        events::staff_updated(txn, &staff, &changed).await?;
        self.commit(mutation, &staff.id).await?;
        Ok(staff)
    }

    /// SK-1: a person leaves, once nobody depends on them.
    pub(crate) async fn record_departure(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        at: Option<chrono::DateTime<Utc>>,
    ) -> Result<Staff> {
        if id.trim().is_empty() {
            return Err(invalid("staff_id", "required"));
        }
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.staff(&id).await,
        };
        let txn = &mutation.txn;
        let mut staff = store::staff(txn, id.trim(), true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("person {id}")))?;
        staff.leave(expected_version, at, Utc::now())?;
        let led = store::still_leads(txn, &staff.id).await?;
        if !led.is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "{} still leads {}: hand them over first",
                staff.id,
                led.join(", ")
            )));
        }
        store::update_staff(txn, &staff).await?;
        events::staff_left(txn, &staff).await?;
        self.commit(mutation, &staff.id).await?;
        Ok(staff)
    }

    /// A team's supervisor is an active supervisor or manager; its parent exists and does
    /// not sit inside it.
    async fn check_team<C: ConnectionTrait>(&self, db: &C, t: &Team) -> Result<()> {
        let mut v = Violations::new();
        if !t.supervisor_id.is_empty() {
            match store::staff(db, &t.supervisor_id, false).await? {
                Some(s) if s.leads() => {}
                Some(s) => v.add(
                    "team.supervisor_id",
                    format!("{} is not an active supervisor or manager", s.id),
                ),
                None => v.add(
                    "team.supervisor_id",
                    format!("nobody is {}", t.supervisor_id),
                ),
            }
        }
        if !t.parent_team_id.is_empty() {
            if store::team(db, &t.parent_team_id, false).await?.is_none() {
                v.add(
                    "team.parent_team_id",
                    format!("no team {}", t.parent_team_id),
                );
            } else {
                let mut parents = Vec::new();
                let mut at = t.parent_team_id.clone();
                for _ in 0..64 {
                    let Some(up) = store::team(db, &at, false).await? else {
                        break;
                    };
                    parents.push((up.id.clone(), up.parent_team_id.clone()));
                    if up.parent_team_id.is_empty() {
                        break;
                    }
                    at = up.parent_team_id;
                }
                let up = |id: &str| {
                    parents
                        .iter()
                        .find(|(team, _)| team == id)
                        .map(|(_, p)| p.clone())
                };
                if leads_back_to(&t.id, &t.parent_team_id, up) {
                    v.add(
                        "team.parent_team_id",
                        format!("{} is inside {} already", t.parent_team_id, t.id),
                    );
                }
            }
        }
        Ok(v.finish()?)
    }

    pub(crate) async fn create_team(
        &self,
        who: &Requester,
        retry: &Retry,
        draft: &TeamDraft,
    ) -> Result<Team> {
        let team = Team::create(draft, Utc::now())?;
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.team(&id).await,
        };
        let txn = &mutation.txn;
        self.check_team(txn, &team).await?;
        if !store::insert_team(txn, &team).await? {
            return Err(Error::AlreadyExists(format!("team {}", team.id)));
        }
        events::team_changed(txn, &team).await?;
        self.commit(mutation, &team.id).await?;
        Ok(team)
    }

    pub(crate) async fn team(&self, id: &str) -> Result<Team> {
        if id.trim().is_empty() {
            return Err(invalid("team_id", "required"));
        }
        store::team(&self.db, id.trim(), false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("team {id}")))
    }

    pub(crate) async fn teams(&self, page_size: u64, after: Option<String>) -> Result<Page<Team>> {
        let rows = store::teams(&self.db, after.as_deref(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |t| &t.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(crate) async fn update_team(
        &self,
        who: &Requester,
        retry: &Retry,
        draft: &TeamDraft,
        paths: &[String],
        expected_version: i64,
    ) -> Result<Team> {
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(id) => return self.team(&id).await,
        };
        let txn = &mutation.txn;
        let mut team = store::team(txn, &draft.id, true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("team {}", draft.id)))?;
        let version = team.version;
        team.change(expected_version, paths, draft, Utc::now())?;
        if team.version == version {
            return Ok(team);
        }
        self.check_team(txn, &team).await?;
        store::update_team(txn, &team).await?;
        events::team_changed(txn, &team).await?;
        self.commit(mutation, &team.id).await?;
        Ok(team)
    }
}
