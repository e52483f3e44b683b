//! CR-9 key rotation: every customer's personal data re-sealed under the active key, in the
//! background and in small transactions, while reads go on (old keys still open envelopes).
//! One rotation at a time across replicas, run by one of them; a rotation whose runner died
//! is taken up by the next replica that looks.

use chrono::Utc;
use kefu_platform::db::Exclusive;
use sea_orm::TransactionTrait as _;

use crate::domain::access::Viewer;
use crate::domain::rotation::{KeyRotation, RotationState};
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::store::{self, ListFilter};

const BATCH: u64 = 100;
/// Held while a rotation is checked for and started: replicas asked at once start one.
const START_LOCK: &str = "customer-registry.key-rotation.start";
/// Held by the replica running the rotation, for as long as it runs.
const RUN_LOCK: &str = "customer-registry.key-rotation.run";

impl Registry {
    /// The rotation under way, or a new one toward the active key, running here unless
    /// another replica runs it.
    pub(crate) async fn start_key_rotation(&self) -> Result<KeyRotation> {
        let id = self.begin_rotation().await?;
        self.run_rotation(id.clone()).await;
        self.key_rotation(&id).await
    }

    pub(crate) async fn key_rotation(&self, id: &str) -> Result<KeyRotation> {
        store::rotations::get(&self.db, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("key rotation {id}")))
    }

    /// The rotation under way, or a new one: the check and the insert run under one lock.
    async fn begin_rotation(&self) -> Result<String> {
        let txn = self.db.begin().await?;
        kefu_platform::db::lock_in(&txn, START_LOCK).await?;
        if let Some(id) = store::rotations::running(&txn).await? {
            txn.commit().await?;
            return Ok(id);
        }
        let rotation = KeyRotation {
            id: uuid::Uuid::now_v7().to_string(),
            target_key_id: self.cipher.active_key_id().to_owned(),
            state: RotationState::Running,
            total_rows: store::rotations::count_customers(&txn).await?,
            done_rows: 0,
            started_at: Utc::now(),
            ended_at: None,
            error: String::new(),
        };
        store::rotations::insert(&txn, &rotation).await?;
        txn.commit().await?;
        Ok(rotation.id)
    }

    /// Runs an unfinished rotation here if no replica is running it.
    pub(crate) async fn resume_rotation(&self) {
        match store::rotations::running(&self.db).await {
            Ok(Some(id)) => self.run_rotation(id).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot look for an unfinished key rotation"),
        }
    }

    /// Runs rotation `id` in the background unless this process or another replica already
    /// does; re-sealing a row twice is harmless, so a resumed rotation starts over.
    async fn run_rotation(&self, id: String) {
        let Ok(here) = self.rotating.clone().try_lock_owned() else {
            return;
        };
        let exclusive = match Exclusive::try_take(&self.db, RUN_LOCK).await {
            Ok(Some(exclusive)) => exclusive,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, rotation = %id, "cannot tell who runs the key rotation");
                return;
            }
        };
        let registry = self.clone();
        tokio::spawn(async move {
            registry.reseal_all(&id).await;
            if let Err(e) = exclusive.release().await {
                tracing::warn!(error = %e, "key rotation lock not released; it ends with the connection");
            }
            drop(here);
        });
    }

    /// Re-seals every customer, a batch at a time; each row's version stays, only its
    /// envelopes change.
    async fn reseal_all(&self, id: &str) {
        let mut filter = ListFilter {
            show_archived: true,
            ..Default::default()
        };
        let mut done = 0i64;
        let result: Result<()> = async {
            loop {
                let page = store::list(&self.db, &self.cipher, &Viewer::everyone(), &filter, BATCH)
                    .await?;
                let Some(last) = page.last().map(|c| c.id.clone()) else {
                    return Ok(());
                };
                let txn = self.db.begin().await?;
                for customer in &page {
                    // Same version: a concurrent change wins, and it is sealed under the
                    // active key anyway.
                    store::update_if_version(&txn, &self.cipher, customer, customer.version)
                        .await?;
                }
                txn.commit().await?;
                done += page.len() as i64;
                store::rotations::progress(&self.db, id, done, RotationState::Running, "").await?;
                filter.after_id = Some(last);
            }
        }
        .await;
        let (state, error) = match result {
            Ok(()) => (RotationState::Done, String::new()),
            Err(e) => (RotationState::Failed, e.to_string()),
        };
        if let Err(e) = store::rotations::progress(&self.db, id, done, state, &error).await {
            tracing::warn!(error = %e, rotation = %id, "key rotation progress not stored");
        }
        tracing::info!(rotation = %id, rows = done, state = ?state, "key rotation ended");
    }
}
