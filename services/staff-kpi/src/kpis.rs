//! SK-2, SK-3: the KPI definitions: seeded with each KPI's first formula, then one formula
//! version added at a time, each dated after the last and never reaching back into a period
//! already closed.

use chrono::Utc;

use crate::department::{Department, Requester, Retry, replayed};
use crate::domain::check_version;
use crate::domain::kpi::{Formula, FormulaDraft, Kpi};
use crate::domain::period::local_midnight;
use crate::error::{Error, Result, invalid};
use crate::events;
use crate::store;

/// A KPI with its formula versions, oldest first.
#[derive(Debug)]
pub(crate) struct Definition {
    pub(crate) kpi: Kpi,
    pub(crate) version: i64,
    pub(crate) formulas: Vec<Formula>,
}

impl Department {
    /// Writes each KPI's first formula unless it has one.
    pub(crate) async fn seed_formulas(&self, first: &[Formula]) -> Result<()> {
        store::kpis::seed(&self.db, first).await?;
        Ok(())
    }

    pub(crate) async fn definition(&self, kpi: Option<Kpi>) -> Result<Definition> {
        let kpi = kpi.ok_or_else(|| invalid("kpi", "required"))?;
        let version = store::kpis::version(&self.db, kpi, false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("KPI {kpi}")))?;
        Ok(Definition {
            kpi,
            version,
            formulas: store::kpis::formulas(&self.db, Some(kpi)).await?,
        })
    }

    /// Every KPI after `after` (by code), at most `limit`.
    pub(crate) async fn definitions(
        &self,
        after: Option<&str>,
        limit: u64,
    ) -> Result<(Vec<Definition>, String)> {
        let all = store::kpis::formulas(&self.db, None).await?;
        let mut codes: Vec<Kpi> = Kpi::ALL.to_vec();
        codes.sort_by_key(|k| k.code());
        let mut out = Vec::new();
        for kpi in codes
            .into_iter()
            .filter(|k| after.is_none_or(|a| k.code() > a))
        {
            let Some(version) = store::kpis::version(&self.db, kpi, false).await? else {
                continue;
            };
            out.push(Definition {
                kpi,
                version,
                formulas: all.iter().filter(|f| f.kpi == kpi).cloned().collect(),
            });
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next = if out.len() > limit {
            out.truncate(limit);
            out.last()
                .map(|d| kefu_platform::paging::encode_token(d.kpi.code()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok((out, next))
    }

    /// SK-3: the next formula version of a KPI, for periods from its date on.
    pub(crate) async fn add_formula(
        &self,
        who: &Requester,
        retry: &Retry,
        kpi: Option<Kpi>,
        expected_version: i64,
        draft: &FormulaDraft,
    ) -> Result<Definition> {
        let kpi = kpi.ok_or_else(|| invalid("kpi", "required"))?;
        let mutation = match replayed(self.begin(who, retry).await?) {
            Ok(mutation) => mutation,
            Err(_) => return self.definition(Some(kpi)).await,
        };
        let txn = &mutation.txn;
        let version = store::kpis::version(txn, kpi, true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("KPI {kpi}")))?;
        check_version("KPI definition", version, expected_version)?;
        let formulas = store::kpis::formulas(txn, Some(kpi)).await?;
        let next = formulas.iter().map(|f| f.version).max().unwrap_or(0) + 1;
        let formula = draft.checked(kpi, next, Utc::now(), "formula")?;
        if let Some(latest) = formulas.iter().map(|f| f.effective_from).max()
            && formula.effective_from <= latest
        {
            return Err(invalid(
                "formula.effective_from_date",
                format!("after {latest}, the date of the latest version"),
            ));
        }
        let from = local_midnight(formula.effective_from, self.rules.offset);
        if let Some(period) = store::assessments::closed_from(txn, from).await? {
            return Err(Error::FailedPrecondition(format!(
                "period {period} is closed and starts on or after {}: its figures keep their formulas",
                formula.effective_from
            )));
        }
        store::kpis::add(txn, &formula, version + 1).await?;
        events::formula_added(txn, &formula).await?;
        self.commit(mutation, kpi.code()).await?;
        let mut formulas = formulas;
        formulas.push(formula);
        Ok(Definition {
            kpi,
            version: version + 1,
            formulas,
        })
    }
}
