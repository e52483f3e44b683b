//! The company identity provider's public keys, from a JWKS file (as a ConfigMap or a
//! sidecar keeps it current): looked up by a token's key id, re-read when the file may have
//! changed, so that a key the provider rotates in is accepted without a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

/// A provider's key, with the algorithms a token signed by it may name.
#[derive(Clone)]
pub(crate) struct PublicKey {
    pub(crate) key: DecodingKey,
    pub(crate) algorithms: Vec<Algorithm>,
}

/// The keys of one JWKS file.
#[derive(Clone)]
pub(crate) struct Jwks {
    path: PathBuf,
    refresh: Duration,
    state: Arc<Mutex<Loaded>>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Loaded {
    keys: HashMap<String, PublicKey>,
    /// When the file was last looked at, and what it was then.
    read: Option<(Instant, Option<Fingerprint>)>,
    /// Counts the key sets read: a token verified under an earlier one is checked again.
    generation: u64,
}

impl Jwks {
    /// Keys read from `path` when first needed, and again when the file changed and
    /// `refresh` has passed or a token names a key id not in it.
    pub(crate) fn new(path: impl Into<PathBuf>, refresh: Duration) -> Self {
        Self {
            path: path.into(),
            refresh,
            state: Arc::default(),
        }
    }

    /// Reads the file, failing as [`read`] does.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        read(&self.path)
            .map(|_| ())
            .map_err(|e| e.context(format!("auth.jwks_file {}", self.path.display())))
    }

    /// The key `kid` names, and the generation of the key set it was found in.
    pub(crate) fn key(&self, kid: &str) -> (Option<PublicKey>, u64) {
        let mut state = self.current();
        // An unknown id may be a key just rotated in. Reloading costs a stat of the file,
        // and a read only when it changed, so a flood of made-up ids costs no file reads.
        if !state.keys.contains_key(kid) {
            self.reload(&mut state);
        }
        (state.keys.get(kid).cloned(), state.generation)
    }

    /// The generation of the current key set: it changes when the file brings other keys,
    /// so that a token remembered as verified is not taken on a key rotated out.
    pub(crate) fn generation(&self) -> u64 {
        self.current().generation
    }

    /// The state, the file looked at again when `refresh` has passed.
    fn current(&self) -> std::sync::MutexGuard<'_, Loaded> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let stale = state
            .read
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= self.refresh);
        if stale {
            self.reload(&mut state);
        }
        state
    }

    fn reload(&self, state: &mut Loaded) {
        let now = fingerprint(&self.path);
        let unchanged = state
            .read
            .as_ref()
            .is_some_and(|(_, before)| before.is_some() && *before == now);
        state.read = Some((Instant::now(), now));
        if unchanged {
            return;
        }
        match read(&self.path) {
            Ok(keys) => {
                tracing::info!(path = %self.path.display(), keys = keys.len(), "identity provider keys read");
                state.keys = keys;
                state.generation += 1;
            }
            // The keys read before stay: a file half-written by its updater must not lock
            // every user out.
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "identity provider keys not read; keeping those read before")
            }
        }
    }
}

/// What tells one version of the file from the next without reading it: a file replaced by
/// a rename (as a ConfigMap's update does) has a new inode even when written within the
/// clock tick of the last, which a modification time alone would miss.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fingerprint {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Fingerprint {
        modified: metadata.modified().ok(),
        len: metadata.len(),
        inode,
    })
}

/// Reads the usable keys of a JWKS file by key id; an error when it has none.
pub(crate) fn read(path: &Path) -> anyhow::Result<HashMap<String, PublicKey>> {
    let text = std::fs::read_to_string(path)?;
    let set: JwkSet = serde_json::from_str(&text)?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if let Some(key) = public_key(jwk) {
            keys.insert(kid, key);
        }
    }
    anyhow::ensure!(
        !keys.is_empty(),
        "no RSA or EC (P-256, P-384) signing key with a key id"
    );
    Ok(keys)
}

/// A JWK as a verifying key: RSA for RS*/PS*, EC P-256 for ES256 and P-384 for ES384; narrowed
/// to the key's own `alg` when it names one. Symmetric keys ("oct") are never taken from a
/// key set: a published secret is no secret.
fn public_key(jwk: &Jwk) -> Option<PublicKey> {
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm {
        None => family,
        Some(named) => {
            let named = key_algorithm(named)?;
            family.into_iter().filter(|a| *a == named).collect()
        }
    };
    if algorithms.is_empty() {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(PublicKey { key, algorithms })
}

fn key_algorithm(named: KeyAlgorithm) -> Option<Algorithm> {
    Some(match named {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        _ => return None,
    })
}
