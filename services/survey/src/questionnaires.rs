//! SV-2: questionnaires as data: created as a draft, edited with the version read, published
//! into frozen versions.

use chrono::Utc;
use kefu_platform::idempotency::{self, Begun};
use kefu_platform::paging;

use crate::domain::questionnaire::{Form, Published, Questionnaire};
use crate::error::{Error, Result, invalid};
use crate::store;
use crate::surveys::{Page, Requester, Retry, Surveys};

/// A questionnaire as shown: the draft, or a published version.
#[derive(Debug)]
pub(crate) struct Shown {
    pub(crate) questionnaire: Questionnaire,
    /// `None` for the draft.
    pub(crate) version: Option<Published>,
}

impl Surveys {
    pub(crate) async fn create_questionnaire(
        &self,
        who: &Requester,
        retry: &Retry,
        form: Form,
    ) -> Result<Shown> {
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(id) => {
                return self.questionnaire(&String::from_utf8_lossy(&id), 0).await;
            }
        };
        let q = Questionnaire::new(uuid::Uuid::now_v7().to_string(), form, Utc::now());
        store::insert_questionnaire(&mutation.txn, &q).await?;
        mutation.commit(q.id.as_bytes()).await?;
        Ok(Shown {
            questionnaire: q,
            version: None,
        })
    }

    /// The draft (`version` 0) or a published version.
    pub(crate) async fn questionnaire(&self, id: &str, version: i32) -> Result<Shown> {
        if id.trim().is_empty() {
            return Err(invalid("questionnaire_id", "required"));
        }
        let q = store::questionnaire(&self.db, id.trim(), false)
            .await?
            .ok_or_else(|| Error::NotFound(format!("questionnaire {id}")))?;
        let version = match version {
            0 => None,
            n if n < 0 => return Err(invalid("version", "must not be negative")),
            n => Some(
                store::version(&self.db, &q.id, n)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("questionnaire {id} version {n}")))?,
            ),
        };
        Ok(Shown {
            questionnaire: q,
            version,
        })
    }

    pub(crate) async fn questionnaires(
        &self,
        page_size: u64,
        after: Option<String>,
    ) -> Result<Page<Questionnaire>> {
        let rows = store::questionnaires(&self.db, after.as_deref(), page_size + 1).await?;
        let (items, next_page_token) = paging::finish_page(rows, page_size, |q| &q.id);
        Ok(Page {
            items,
            next_page_token,
        })
    }

    pub(crate) async fn edit_questionnaire(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
        change: impl FnOnce(&Form) -> Result<Form>,
    ) -> Result<Shown> {
        self.change_questionnaire(who, retry, id, |q| {
            let draft = change(&q.draft)?;
            q.edit(expected_version, draft)?;
            Ok(None)
        })
        .await
    }

    pub(crate) async fn publish_questionnaire(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        expected_version: i64,
    ) -> Result<Shown> {
        self.change_questionnaire(who, retry, id, |q| {
            Ok(Some(q.publish(expected_version, Utc::now())?))
        })
        .await
    }

    async fn change_questionnaire(
        &self,
        who: &Requester,
        retry: &Retry,
        id: &str,
        change: impl FnOnce(&mut Questionnaire) -> Result<Option<Published>>,
    ) -> Result<Shown> {
        if id.trim().is_empty() {
            return Err(invalid("questionnaire_id", "required"));
        }
        let mutation = match idempotency::begin(
            &self.db,
            &who.idempotency_scope(),
            &retry.request_id,
            &retry.fingerprint,
        )
        .await?
        {
            Begun::Fresh(mutation) => mutation,
            Begun::Replay(_) => return self.questionnaire(id, 0).await,
        };
        let txn = &mutation.txn;
        let mut q = store::questionnaire(txn, id.trim(), true)
            .await?
            .ok_or_else(|| Error::NotFound(format!("questionnaire {id}")))?;
        let published = change(&mut q)?;
        store::update_questionnaire(txn, &q).await?;
        if let Some(version) = &published {
            store::insert_version(txn, version).await?;
        }
        mutation.commit(q.id.as_bytes()).await?;
        Ok(Shown {
            questionnaire: q,
            version: published,
        })
    }
}
