//! CR-9 for orders: what order-tracking seals, swept by the platform's re-seal under the
//! active key in the background, so a retired key can be removed once every service is done.

use kefu_platform::pii::PiiCipher;
pub use kefu_platform::reseal::Sweep;
use kefu_platform::reseal::{self, SealedColumn};
use sea_orm::{DatabaseConnection, DbErr};
use tokio_util::sync::CancellationToken;

use crate::store::streets_binding;

/// Each order's streets (origin and destination), one envelope.
pub const STREETS: SealedColumn = SealedColumn {
    table: "orders",
    id: "id",
    column: "streets_ct",
    binding: streets_binding,
};

/// Re-seals every order's streets not under the active key; returns what it did.
pub async fn sweep(db: &DatabaseConnection, cipher: &PiiCipher) -> Result<Sweep, DbErr> {
    reseal::sweep(db, cipher, STREETS).await
}

/// Sweeps at start and then every hour until `stop`, on one replica at a time.
pub async fn run(db: DatabaseConnection, cipher: PiiCipher, stop: CancellationToken) {
    reseal::run(db, cipher, STREETS, stop).await;
}
