//! What staff-kpi's use cases share: the handles and the rules, who asks and whom they may
//! see, and the one computation of a person's figures in a period, which every assessment,
//! recomputation and dispute goes through.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};
use kefu_platform::auth::Role;
use kefu_platform::events::EventLog;
use kefu_platform::idempotency::{self, Begun, Mutation};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::sync::Notify;

use crate::domain::Cause;
use crate::domain::access::Viewer;
use crate::domain::assessment::{Assessment, GradeScale, score};
use crate::domain::kpi::{self, Figure, Formula, Kpi, Scope, Source};
use crate::domain::period::{Period, local_day};
use crate::error::{Error, Result};
use crate::events;
use crate::store;

/// The handles and rules every use case is built on. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Department {
    pub(crate) db: DatabaseConnection,
    pub(crate) log: EventLog,
    pub(crate) rules: Arc<Rules>,
    /// Wakes the close pass when a period starts closing.
    pub(crate) closing: Arc<Notify>,
    /// Seals disputes' and breaches' documents at rest.
    pub(crate) cipher: kefu_platform::pii::PiiCipher,
}

/// The rules' settings, read once at start.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) offset: FixedOffset,
    pub(crate) grades: GradeScale,
}

/// Who asks, through which RPC.
#[derive(Clone, Debug)]
pub(crate) struct Requester {
    pub(crate) subject: String,
    pub(crate) role: Role,
    pub(crate) rpc: &'static str,
}

impl Requester {
    pub(crate) fn idempotency_scope(&self) -> String {
        format!("{}:{}", self.rpc, self.subject)
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Retry {
    pub(crate) request_id: String,
    pub(crate) fingerprint: String,
}

#[derive(Debug)]
pub(crate) struct Page<T> {
    pub(crate) items: Vec<T>,
    pub(crate) next_page_token: String,
}

/// A person's figures and the events behind them.
#[derive(Debug)]
pub(crate) struct Computed {
    pub(crate) figures: Vec<Figure>,
    pub(crate) sources: Vec<Source>,
}

impl Department {
    /// Opens a change's transaction under the request's id; a retry gets the first answer.
    pub(crate) async fn begin(&self, who: &Requester, retry: &Retry) -> Result<Begun> {
        Ok(idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?)
    }

    /// Commits a change whose answer is `id`, and wakes the relay for its events.
    pub(crate) async fn commit(&self, mutation: Mutation, id: &str) -> Result<()> {
        mutation.commit(id.as_bytes()).await?;
        self.log.committed();
        Ok(())
    }

    /// Whom `who` may see: a person themselves; a supervisor also the people of the teams
    /// they lead (with those teams' sub-teams) and those who report to them; managers and
    /// systems everyone.
    pub(crate) async fn viewer<C: ConnectionTrait>(
        &self,
        db: &C,
        who: &Requester,
    ) -> Result<Viewer> {
        match who.role {
            Role::Manager | Role::Service => Ok(Viewer::Everyone),
            Role::Agent => Ok(Viewer::People([who.subject.clone()].into())),
            Role::Supervisor => {
                let teams = self.teams_led(db, &who.subject).await?;
                let mut people: HashSet<String> = store::people_of(db, &teams, &who.subject)
                    .await?
                    .into_iter()
                    .collect();
                people.insert(who.subject.clone());
                Ok(Viewer::People(people))
            }
        }
    }

    /// The teams `supervisor` leads, with their sub-teams, sorted.
    pub(crate) async fn teams_led<C: ConnectionTrait>(
        &self,
        db: &C,
        supervisor: &str,
    ) -> Result<Vec<String>> {
        let mut teams: Vec<String> = Vec::new();
        // Each round adds a level of sub-teams; a tree deeper than this is not a department.
        for _ in 0..16 {
            let mut found = store::teams_led_or_under(db, supervisor, &teams).await?;
            found.sort();
            if found == teams {
                break;
            }
            teams = found;
        }
        Ok(teams)
    }

    /// AIP-211: another person's is PERMISSION_DENIED, whether it exists or not.
    pub(crate) async fn check_sees(
        &self,
        who: &Requester,
        staff_id: &str,
        what: &str,
    ) -> Result<()> {
        if self.viewer(&self.db, who).await?.sees(staff_id) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "{what} is not yours to see"
            )))
        }
    }

    /// The first local day of a period.
    pub(crate) fn first_day(&self, period: &Period) -> chrono::NaiveDate {
        local_day(period.start, self.rules.offset)
    }

    /// SK-3: the formula each KPI uses in `period`.
    pub(crate) async fn formulas_for<C: ConnectionTrait>(
        &self,
        db: &C,
        period: &Period,
    ) -> Result<BTreeMap<Kpi, Formula>> {
        let all = store::kpis::formulas(db, None).await?;
        let first = self.first_day(period);
        let mut chosen = BTreeMap::new();
        for kpi in Kpi::ALL {
            let versions: Vec<Formula> = all.iter().filter(|f| f.kpi == *kpi).cloned().collect();
            if let Some(f) = kpi::formula_for(&versions, first) {
                chosen.insert(*kpi, f.clone());
            }
        }
        Ok(chosen)
    }

    /// SK-2: a person's figures in `period` from the facts received before the period's
    /// cutoff, less what upheld disputes took out.
    pub(crate) async fn compute<C: ConnectionTrait>(
        &self,
        db: &C,
        staff_id: &str,
        period: &Period,
        now: DateTime<Utc>,
    ) -> Result<Computed> {
        let formulas = self.formulas_for(db, period).await?;
        let facts =
            store::facts::for_person(db, staff_id, period.start, period.end, period.cutoff(now))
                .await?;
        let excluded = store::assessments::excluded(db, staff_id).await?;
        let scope = Scope {
            person: staff_id,
            start: period.start,
            end: period.end,
        };
        let mut computed = Computed {
            figures: Vec::new(),
            sources: Vec::new(),
        };
        for (figure, sources) in kpi::compute(scope, &formulas, &facts, &excluded) {
            computed.figures.push(figure);
            computed.sources.extend(sources);
        }
        Ok(computed)
    }

    /// SK-3: computes a person's assessment in `period` and writes it as the next revision,
    /// unless it says what the latest already says (and `cause` is not final); answers the
    /// revision that holds and whether it is new.
    pub(crate) async fn assess_in<C: ConnectionTrait>(
        &self,
        txn: &C,
        staff_id: &str,
        period: &Period,
        cause: Cause,
        dispute_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(Assessment, bool)> {
        let computed = self.compute(txn, staff_id, period, now).await?;
        let latest = store::assessments::assessment(txn, staff_id, &period.id, 0).await?;
        if let Some(latest) = &latest
            && cause != Cause::Final
            && latest.same_figures(&computed.figures)
        {
            return Ok((latest.clone(), false));
        }
        let team_id = store::staff(txn, staff_id, false)
            .await?
            .map(|s| s.team_id)
            .unwrap_or_default();
        let score = score(&computed.figures);
        let assessment = Assessment {
            staff_id: staff_id.to_owned(),
            period_id: period.id.clone(),
            revision: latest.as_ref().map_or(1, |a| a.revision + 1),
            cause,
            dispute_id: dispute_id.to_owned(),
            grade: score.map(|s| self.rules.grades.grade(s)),
            score,
            figures: computed.figures,
            team_id,
            computed_at: now,
        };
        store::assessments::insert_assessment(txn, &assessment, &computed.sources).await?;
        events::assessment_computed(txn, &assessment).await?;
        Ok((assessment, true))
    }
}

/// Whether a request id was seen: a replay answers with what the first request made.
pub(crate) fn replayed(begun: Begun) -> std::result::Result<Mutation, String> {
    match begun {
        Begun::Fresh(mutation) => Ok(mutation),
        Begun::Replay(id) => Err(String::from_utf8_lossy(&id).into_owned()),
    }
}
