//! Bearer-JWT authentication and per-RPC role checks, applied as one tower layer before any
//! handler runs; the verified caller travels to handlers in the request extensions.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{BoxFuture, FutureExt as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::config::AuthSettings;

/// Scope that lets a caller see personal data unmasked (CR-9).
pub const SCOPE_PII_READ: &str = "pii:read";

/// Who a caller is, from DOMAIN.md's table of roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Agent,
    Supervisor,
    Manager,
    /// Another company system.
    Service,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Agent, Role::Supervisor, Role::Manager, Role::Service];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Supervisor => "supervisor",
            Role::Manager => "manager",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?}; one of agent, supervisor, manager, service")
            })
    }
}

/// The claims Kefu reads from a token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub role: Role,
    /// Space-separated, as OAuth does.
    #[serde(default)]
    pub scope: String,
    /// The caller's team, for object-level checks on agents.
    #[serde(default)]
    pub team: String,
    /// The caller's department, for object-level checks on supervisors: a supervisor with
    /// one sees its department's cases (complaint-desk), one without sees all.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dept: String,
}

/// The verified caller, as handlers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub role: Role,
    pub scopes: Vec<String>,
    pub team: String,
    pub department: String,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The caller a handler was given by [`AuthLayer`]; absent only if the layer is missing,
    /// which is a wiring fault, so the request is refused rather than served unauthenticated.
    pub fn from_request<T>(request: &tonic::Request<T>) -> Result<&Caller, Status> {
        request
            .extensions()
            .get::<Caller>()
            .ok_or_else(|| Status::unauthenticated("no verified caller"))
    }
}

/// Who a minted token speaks for.
#[derive(Clone, Copy, Debug)]
pub struct Grant<'a> {
    pub subject: &'a str,
    pub role: Role,
    pub scopes: &'a [&'a str],
    pub team: &'a str,
    pub department: &'a str,
}

/// Verifies tokens (HS256 with the configured key; RSA and EC with the identity provider's
/// keys, when a JWKS file is configured) and mints development ones with the HS256 key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// The identity provider's keys and what its tokens are checked against.
    provider: Option<(crate::jwks::Jwks, Validation)>,
    issuer: String,
    audience: String,
    leeway_s: u64,
    verified: Arc<std::sync::Mutex<HashMap<String, Verified>>>,
}

/// A token that verified, kept so that its next calls skip the signature and the JSON.
#[derive(Clone, Debug)]
struct Verified {
    caller: Caller,
    /// Its `exp`: past it (and the leeway), a cached token is refused as a fresh one is.
    expires: u64,
    /// For a token of the identity provider, the generation of the key set that verified it:
    /// once the file brings another set, the token is checked again, and refused if its key
    /// was rotated out. The shared secret does not change while the process runs.
    key_generation: Option<u64>,
}

/// Tokens kept verified at most; a full cache starts again empty (which also drops the
/// expired ones), so a flood of distinct tokens costs verification, never memory.
const MAX_VERIFIED: usize = 4096;

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = settings.hs256_secret.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // A token that says when it starts (`nbf`) is refused before then, as after `exp`.
        validation.validate_nbf = true;
        validation.leeway = settings.leeway_s;
        let provider = (!settings.jwks_file.is_empty()).then(|| {
            let mut checks = validation.clone();
            let issuer = if settings.jwks_issuer.is_empty() {
                &settings.issuer
            } else {
                &settings.jwks_issuer
            };
            checks.set_issuer(&[issuer]);
            (
                crate::jwks::Jwks::new(
                    &settings.jwks_file,
                    std::time::Duration::from_secs(settings.jwks_refresh_s),
                ),
                checks,
            )
        });
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            provider,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway_s: settings.leeway_s,
            verified: Arc::default(),
        }
    }

    /// Reads the identity provider's keys now, if a JWKS file is configured: a wrong path or
    /// a file without a usable key stops a start instead of locking every user out later.
    pub fn check_provider(&self) -> anyhow::Result<()> {
        if let Some((keys, _)) = &self.provider {
            keys.check()?;
        }
        Ok(())
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashMap<String, Verified>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Mints a token for development and tests (`kefu token`).
    pub fn mint(
        &self,
        subject: &str,
        role: Role,
        scopes: &[&str],
        team: &str,
        ttl_s: u64,
    ) -> String {
        self.mint_grant(
            &Grant {
                subject,
                role,
                scopes,
                team,
                department: "",
            },
            ttl_s,
        )
    }

    /// Mints a token for `grant`, valid for `ttl_s` seconds.
    pub fn mint_grant(&self, grant: &Grant<'_>, ttl_s: u64) -> String {
        let now = unix_now();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: grant.subject.to_owned(),
            exp: now + ttl_s,
            iat: now,
            role: grant.role,
            scope: grant.scopes.join(" "),
            team: grant.team.to_owned(),
            dept: grant.department.to_owned(),
        };
        // Encoding HS256 over serialisable claims cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks signature, algorithm, issuer, audience and expiry. A token that verified before
    /// is taken from the cache (the same text, so the same signature), its expiry checked
    /// again: a client sends the same token with every call, and checking its signature and
    /// parsing its JSON each time was a few percent of a hot call. A provider's token is
    /// taken from the cache only while the key set that verified it is current.
    pub fn verify(&self, token: &str) -> Result<Caller, Status> {
        let known = self.verified().get(token).cloned();
        let remembered = known.is_some();
        if let Some(known) = known {
            if unix_now() > known.expires.saturating_add(self.leeway_s) {
                return Err(Status::unauthenticated("token expired"));
            }
            let current = match (known.key_generation, &self.provider) {
                (Some(generation), Some((keys, _))) => keys.generation() == generation,
                _ => true,
            };
            if current {
                return Ok(known.caller);
            }
        }
        let caller = self.verify_signed(token).inspect_err(|_| {
            if remembered {
                self.verified().remove(token);
            }
        })?;
        let mut verified = self.verified();
        if verified.len() >= MAX_VERIFIED {
            verified.clear();
        }
        verified.insert(token.to_owned(), caller.clone());
        Ok(caller.caller)
    }

    fn verify_signed(&self, token: &str) -> Result<Verified, Status> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Status::unauthenticated("token malformed"))?;
        // The header's algorithm picks the key, and the key the algorithms it may sign
        // with: an HS256 token is only ever checked with the shared secret, an RSA or EC one
        // only with the provider's key its `kid` names, so no token can pass off one kind
        // of key as the other.
        let mut key_generation = None;
        let decoded = if header.alg == Algorithm::HS256 {
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
        } else {
            let Some((keys, checks)) = &self.provider else {
                return Err(Status::unauthenticated("token algorithm not accepted"));
            };
            let kid = header
                .kid
                .ok_or_else(|| Status::unauthenticated("token names no key (kid)"))?;
            let (key, generation) = keys.key(&kid);
            let key = key.ok_or_else(|| Status::unauthenticated("token key unknown"))?;
            key_generation = Some(generation);
            if !key.algorithms.contains(&header.alg) {
                return Err(Status::unauthenticated("token algorithm not accepted"));
            }
            let mut checks = checks.clone();
            checks.algorithms = vec![header.alg];
            jsonwebtoken::decode::<Claims>(token, &key.key, &checks)
        };
        let data = decoded.map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::ImmatureSignature => "token not valid yet",
                ErrorKind::InvalidIssuer => "token issuer not accepted",
                ErrorKind::InvalidAudience => "token audience not accepted",
                ErrorKind::InvalidSignature => "token signature invalid",
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    "token algorithm not accepted"
                }
                ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
                _ => "token malformed",
            };
            Status::unauthenticated(why)
        })?;
        let claims = data.claims;
        if claims.sub.is_empty() {
            return Err(Status::unauthenticated("token subject empty"));
        }
        Ok(Verified {
            caller: Caller {
                subject: claims.sub,
                role: claims.role,
                scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
                team: claims.team,
                department: claims.dept,
            },
            expires: claims.exp,
            key_generation,
        })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Which roles may call which RPC, by full gRPC path ("/pkg.Service/Method").
///
/// Paths under a public prefix (health, reflection) need no token. Every other path needs a
/// token, and a path without a rule is refused: a new RPC is closed until someone opens it.
#[derive(Clone, Debug, Default)]
pub struct AccessPolicy {
    rules: HashMap<String, Vec<Role>>,
    public_prefixes: Vec<String>,
    public_methods: HashSet<String>,
}

impl AccessPolicy {
    pub fn new() -> Self {
        Self {
            rules: HashMap::new(),
            public_prefixes: vec![
                "/grpc.health.v1.Health/".to_owned(),
                "/grpc.reflection.v1.ServerReflection/".to_owned(),
                "/grpc.reflection.v1alpha.ServerReflection/".to_owned(),
            ],
            public_methods: HashSet::new(),
        }
    }

    /// Allows `roles` to call `method` of `service` (fully-qualified service name).
    pub fn allow(mut self, service: &str, method: &str, roles: &[Role]) -> Self {
        self.rules
            .insert(format!("/{service}/{method}"), roles.to_vec());
        self
    }

    /// Opens `method` of `service` to callers without a token: the method checks a
    /// credential of its own (a one-time token in its request, say).
    pub fn public(mut self, service: &str, method: &str) -> Self {
        self.public_methods.insert(format!("/{service}/{method}"));
        self
    }

    pub fn merge(mut self, other: AccessPolicy) -> Self {
        self.rules.extend(other.rules);
        self.public_methods.extend(other.public_methods);
        self
    }

    /// The roles allowed on a path; `None` when the path has no rule.
    pub fn roles_for(&self, path: &str) -> Option<&[Role]> {
        self.rules.get(path).map(Vec::as_slice)
    }

    fn is_public(&self, path: &str) -> bool {
        self.public_methods.contains(path)
            || self.public_prefixes.iter().any(|p| path.starts_with(p))
    }
}

/// Tower layer that authenticates and authorizes each call before routing it.
#[derive(Clone, Debug)]
pub struct AuthLayer {
    keys: Arc<TokenKeys>,
    policy: Arc<AccessPolicy>,
}

impl AuthLayer {
    pub fn new(keys: TokenKeys, policy: AccessPolicy) -> Self {
        Self {
            keys: Arc::new(keys),
            policy: Arc::new(policy),
        }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            keys: self.keys.clone(),
            policy: self.policy.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    keys: Arc<TokenKeys>,
    policy: Arc<AccessPolicy>,
}

impl<S> AuthService<S> {
    fn authorize<B>(&self, request: &http::Request<B>) -> Result<Option<Caller>, Status> {
        let path = request.uri().path();
        if self.policy.is_public(path) {
            return Ok(None);
        }
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or_else(|| Status::unauthenticated("authorization is not a bearer token"))?;
        let caller = self.keys.verify(token.trim())?;
        match self.policy.roles_for(path) {
            Some(roles) if roles.contains(&caller.role) => Ok(Some(caller)),
            Some(_) => Err(Status::permission_denied(format!(
                "role {} may not call {path}",
                caller.role
            ))),
            None => Err(Status::permission_denied(format!(
                "no access rule for {path}"
            ))),
        }
    }
}

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.authorize(&request) {
            Ok(caller) => {
                if let Some(caller) = caller {
                    tracing::Span::current().record("enduser.id", caller.subject.as_str());
                    request.extensions_mut().insert(caller);
                }
                // The inner service was polled ready; swap in a clone for the next call.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                inner.call(request).boxed()
            }
            Err(status) => futures::future::ready(Ok(status.into_http())).boxed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn settings() -> AuthSettings {
        AuthSettings {
            issuer: "kefu".into(),
            audience: "kefu".into(),
            hs256_secret: Secret::new("0123456789abcdef0123456789abcdef"),
            leeway_s: 0,
            dev_token_ttl_s: 60,
            jwks_file: String::new(),
            jwks_issuer: String::new(),
            jwks_refresh_s: 300,
        }
    }

    #[test]
    fn minted_tokens_verify_and_carry_role_scopes_and_team() {
        let keys = TokenKeys::new(&settings());
        let token = keys.mint("u1", Role::Agent, &["pii:read", "x"], "t1", 60);
        let caller = keys.verify(&token).unwrap();
        assert_eq!(caller.subject, "u1");
        assert_eq!(caller.role, Role::Agent);
        assert!(caller.has_scope(SCOPE_PII_READ));
        assert_eq!(caller.team, "t1");
        assert_eq!(caller.department, "", "no department unless granted");
        let supervisor = keys.mint_grant(
            &Grant {
                subject: "s1",
                role: Role::Supervisor,
                scopes: &[],
                team: "t1",
                department: "north",
            },
            60,
        );
        assert_eq!(keys.verify(&supervisor).unwrap().department, "north");
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires_and_only_its_exact_text() {
        let keys = TokenKeys::new(&settings());
        let token = keys.mint("u1", Role::Agent, &[], "t1", 1);
        assert_eq!(keys.verify(&token).unwrap().subject, "u1");
        assert_eq!(keys.verify(&token).unwrap().subject, "u1", "from the cache");
        let tampered = format!("{token}x");
        assert_eq!(
            keys.verify(&tampered).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
        let other = TokenKeys::new(&AuthSettings {
            hs256_secret: Secret::new("another-secret-another-secret-00"),
            ..settings()
        });
        assert!(
            other.verify(&token).is_err(),
            "each key set has its own cache"
        );
        std::thread::sleep(std::time::Duration::from_millis(2100));
        let expired = keys.verify(&token).unwrap_err();
        assert_eq!(
            expired.message(),
            "token expired",
            "the cached token expires too"
        );
    }

    /// A token signed by `key` with `algorithm` over `claims`, whatever they hold.
    fn forged(algorithm: Algorithm, claims: &serde_json::Value, key: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(algorithm),
            claims,
            &EncodingKey::from_secret(key),
        )
        .unwrap()
    }

    fn claims_at(exp_from_now: i64, extra: serde_json::Value) -> serde_json::Value {
        let mut claims = serde_json::json!({
            "iss": "kefu", "aud": "kefu", "sub": "mallory", "role": "manager",
            "iat": unix_now(),
            "exp": (unix_now() as i64 + exp_from_now),
        });
        if let (Some(claims), Some(extra)) = (claims.as_object_mut(), extra.as_object()) {
            claims.extend(extra.clone());
        }
        claims
    }

    fn refusal(keys: &TokenKeys, token: &str) -> String {
        let status = keys.verify(token).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{token}");
        status.message().to_owned()
    }

    #[test]
    fn tokens_of_another_algorithm_key_issuer_or_audience_are_refused() {
        use base64::Engine as _;
        let keys = TokenKeys::new(&settings());
        let secret = b"0123456789abcdef0123456789abcdef";
        let good = claims_at(60, serde_json::json!({}));
        assert_eq!(
            keys.verify(&forged(Algorithm::HS256, &good, secret))
                .unwrap()
                .subject,
            "mallory"
        );

        // alg "none": the claims with no signature at all.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let unsigned = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(good.to_string())
        );
        assert_eq!(refusal(&keys, &unsigned), "token malformed");
        // Algorithm confusion: the same secret under another HMAC, or an RS256 header over an
        // HMAC signature (the public-key-as-secret trick), is not HS256.
        for algorithm in [Algorithm::HS384, Algorithm::HS512] {
            assert_eq!(
                refusal(&keys, &forged(algorithm, &good, secret)),
                "token algorithm not accepted"
            );
        }
        let hs256 = forged(Algorithm::HS256, &good, secret);
        let (_, rest) = hs256.split_once('.').unwrap();
        let rs256 = format!("{}.{rest}", b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#));
        assert_eq!(refusal(&keys, &rs256), "token algorithm not accepted");
        assert_eq!(
            refusal(
                &keys,
                &forged(Algorithm::HS256, &good, b"another-secret-another-secret-00")
            ),
            "token signature invalid"
        );
        for (claim, value, why) in [
            ("iss", "someone-else", "token issuer not accepted"),
            ("aud", "another-system", "token audience not accepted"),
        ] {
            let claims = claims_at(60, serde_json::json!({ claim: value }));
            assert_eq!(
                refusal(&keys, &forged(Algorithm::HS256, &claims, secret)),
                why
            );
        }
        // Without a subject or an expiry there is nobody to act as, or no end: refused.
        for claim in ["sub", "exp"] {
            let mut partial = good.clone();
            partial.as_object_mut().unwrap().remove(claim);
            refusal(&keys, &forged(Algorithm::HS256, &partial, secret));
        }
    }

    #[test]
    fn expiry_and_start_are_checked_with_the_stated_leeway() {
        let keys = TokenKeys::new(&AuthSettings {
            leeway_s: 30,
            ..settings()
        });
        let secret = b"0123456789abcdef0123456789abcdef";
        let token = |claims: serde_json::Value| forged(Algorithm::HS256, &claims, secret);
        // Within the leeway either side, accepted; beyond it, refused.
        assert!(
            keys.verify(&token(claims_at(-20, serde_json::json!({}))))
                .is_ok()
        );
        assert_eq!(
            refusal(&keys, &token(claims_at(-40, serde_json::json!({})))),
            "token expired"
        );
        let soon = unix_now() + 20;
        assert!(
            keys.verify(&token(claims_at(600, serde_json::json!({ "nbf": soon }))))
                .is_ok()
        );
        let later = unix_now() + 120;
        assert_eq!(
            refusal(
                &keys,
                &token(claims_at(600, serde_json::json!({ "nbf": later })))
            ),
            "token not valid yet"
        );
    }

    #[test]
    fn a_public_method_is_open_by_its_exact_path_only() {
        let policy = AccessPolicy::new()
            .allow("pkg.S", "Guarded", &[Role::Manager])
            .merge(AccessPolicy::new().public("pkg.S", "Open"));
        assert!(policy.is_public("/pkg.S/Open"));
        assert!(!policy.is_public("/pkg.S/OpenSesame"), "not a prefix");
        assert!(!policy.is_public("/pkg.S/Guarded"));
        assert!(policy.is_public("/grpc.health.v1.Health/Check"));
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("admin".parse::<Role>().is_err());
    }

    /// A service's own token (role service, its name as subject, as `Credentials::service`
    /// mints it) is refused where only people may call, with PERMISSION_DENIED.
    #[test]
    fn a_service_token_is_not_a_user() {
        let keys = TokenKeys::new(&settings());
        let auth = AuthService {
            inner: (),
            keys: Arc::new(keys.clone()),
            policy: Arc::new(
                AccessPolicy::new()
                    .allow(
                        "pkg.S",
                        "People",
                        &[Role::Agent, Role::Supervisor, Role::Manager],
                    )
                    .allow("pkg.S", "Systems", &[Role::Service]),
            ),
        };
        let call = |path: &str, token: &str| {
            http::Request::builder()
                .uri(path)
                .header("authorization", format!("Bearer {token}"))
                .body(())
                .unwrap()
        };
        let service = keys.mint("order-tracking", Role::Service, &[], "", 60);
        let refused = auth
            .authorize(&call("/pkg.S/People", &service))
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(auth.authorize(&call("/pkg.S/Systems", &service)).is_ok());
        let person = keys.mint("li", Role::Manager, &[], "", 60);
        assert_eq!(
            auth.authorize(&call("/pkg.S/Systems", &person))
                .unwrap_err()
                .code(),
            tonic::Code::PermissionDenied,
            "nor is a person a service"
        );
    }

    mod provider {
        //! Tokens of the company identity provider, verified with its JWKS file.

        use std::path::{Path, PathBuf};

        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use jsonwebtoken::{Algorithm, EncodingKey, Header};

        use super::super::*;
        use super::{claims_at, refusal, settings};

        const ISSUER: &str = "https://idp.example.com";

        /// An EC P-256 key: its PKCS#8 DER (to sign with) and its public JWK.
        fn ec_key(kid: &str) -> (EncodingKey, serde_json::Value) {
            use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            // 0x04, then x and y.
            let point = pair.public_key().as_ref();
            let jwk = serde_json::json!({
                "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
            });
            (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
        }

        /// A 2048-bit RSA key made by openssl: its PKCS#1 DER and its public JWK.
        fn rsa_key(dir: &Path, kid: &str) -> (EncodingKey, serde_json::Value) {
            let pem = dir.join(format!("{kid}.pem"));
            let der = dir.join(format!("{kid}.der"));
            let openssl = |args: &[&str]| {
                let out = std::process::Command::new("openssl")
                    .args(args)
                    .output()
                    .expect("openssl on PATH, to make an RSA key");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap()
            };
            let (pem_s, der_s) = (pem.to_str().unwrap(), der.to_str().unwrap());
            openssl(&["genrsa", "-traditional", "-out", pem_s, "2048"]);
            openssl(&[
                "rsa",
                "-in",
                pem_s,
                "-outform",
                "DER",
                "-traditional",
                "-out",
                der_s,
            ]);
            let modulus = openssl(&["rsa", "-in", pem_s, "-noout", "-modulus"]);
            let hex = modulus.trim().trim_start_matches("Modulus=");
            let n: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let jwk = serde_json::json!({
                "kty": "RSA", "kid": kid, "use": "sig",
                "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB",
            });
            (EncodingKey::from_rsa_der(&std::fs::read(der).unwrap()), jwk)
        }

        fn write_jwks(path: &Path, keys: &[&serde_json::Value]) {
            // Written aside and renamed in, as a ConfigMap's update swaps its files.
            let aside = path.with_extension("new");
            std::fs::write(&aside, serde_json::json!({ "keys": keys }).to_string()).unwrap();
            std::fs::rename(aside, path).unwrap();
        }

        fn signed(
            alg: Algorithm,
            kid: Option<&str>,
            claims: &serde_json::Value,
            key: &EncodingKey,
        ) -> String {
            let mut header = Header::new(alg);
            header.kid = kid.map(str::to_owned);
            jsonwebtoken::encode(&header, claims, key).unwrap()
        }

        fn keys_reading(path: &Path) -> TokenKeys {
            TokenKeys::new(&AuthSettings {
                jwks_file: path.display().to_string(),
                jwks_issuer: ISSUER.into(),
                ..settings()
            })
        }

        fn from_provider(exp_from_now: i64) -> serde_json::Value {
            claims_at(
                exp_from_now,
                serde_json::json!({ "iss": ISSUER, "sub": "li.wei" }),
            )
        }

        #[test]
        fn es256_and_rs256_tokens_verify_with_the_key_their_kid_names() {
            let dir = tempfile::tempdir().unwrap();
            let path: PathBuf = dir.path().join("jwks.json");
            let (ec, ec_jwk) = ec_key("ec-1");
            let (rsa, rsa_jwk) = rsa_key(dir.path(), "rsa-1");
            write_jwks(&path, &[&ec_jwk, &rsa_jwk]);
            let keys = keys_reading(&path);
            let claims = from_provider(60);
            for token in [
                signed(Algorithm::ES256, Some("ec-1"), &claims, &ec),
                signed(Algorithm::RS256, Some("rsa-1"), &claims, &rsa),
                signed(Algorithm::PS256, Some("rsa-1"), &claims, &rsa),
            ] {
                let caller = keys.verify(&token).unwrap();
                assert_eq!(
                    (caller.subject.as_str(), caller.role),
                    ("li.wei", Role::Manager)
                );
            }
            // The shared secret's tokens still verify beside them.
            let own = keys.mint("order-tracking", Role::Service, &[], "", 60);
            assert_eq!(keys.verify(&own).unwrap().role, Role::Service);

            // Algorithm confusion: a key signs only with its own algorithms, and an HMAC over
            // the provider's public key is not the shared secret.
            assert_eq!(
                refusal(
                    &keys,
                    &signed(Algorithm::ES256, Some("rsa-1"), &claims, &ec)
                ),
                "token algorithm not accepted"
            );
            assert_eq!(
                refusal(
                    &keys,
                    &signed(Algorithm::RS256, Some("ec-1"), &claims, &rsa)
                ),
                "token algorithm not accepted"
            );
            let public_as_secret = rsa_jwk["n"].as_str().unwrap().as_bytes().to_vec();
            assert_eq!(
                refusal(
                    &keys,
                    &signed(
                        Algorithm::HS256,
                        Some("rsa-1"),
                        &claims,
                        &EncodingKey::from_secret(&public_as_secret)
                    )
                ),
                "token signature invalid"
            );
            // A wrong key under a known id; no id; an unknown id; the other issuer; expired.
            let (stranger, _) = ec_key("ec-1");
            assert_eq!(
                refusal(
                    &keys,
                    &signed(Algorithm::ES256, Some("ec-1"), &claims, &stranger)
                ),
                "token signature invalid"
            );
            assert_eq!(
                refusal(&keys, &signed(Algorithm::ES256, None, &claims, &ec)),
                "token names no key (kid)"
            );
            assert_eq!(
                refusal(&keys, &signed(Algorithm::ES256, Some("ec-9"), &claims, &ec)),
                "token key unknown"
            );
            let as_kefu = claims_at(60, serde_json::json!({}));
            assert_eq!(
                refusal(
                    &keys,
                    &signed(Algorithm::ES256, Some("ec-1"), &as_kefu, &ec)
                ),
                "token issuer not accepted"
            );
            assert_eq!(
                refusal(
                    &keys,
                    &signed(Algorithm::ES256, Some("ec-1"), &from_provider(-120), &ec)
                ),
                "token expired"
            );
            // Without a key set, no RSA or EC token is taken at all.
            let without = TokenKeys::new(&settings());
            assert_eq!(
                refusal(
                    &without,
                    &signed(Algorithm::ES256, Some("ec-1"), &claims, &ec)
                ),
                "token algorithm not accepted"
            );
        }

        #[test]
        fn a_remembered_token_is_refused_once_the_refreshed_file_drops_its_key() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("jwks.json");
            let (kept, kept_jwk) = ec_key("kept");
            let (dropped, dropped_jwk) = ec_key("dropped");
            write_jwks(&path, &[&kept_jwk, &dropped_jwk]);
            // Looked at again on every call: no token naming a new key is needed to see
            // the change.
            let keys = TokenKeys::new(&AuthSettings {
                jwks_file: path.display().to_string(),
                jwks_issuer: ISSUER.into(),
                jwks_refresh_s: 0,
                ..settings()
            });
            let on_kept = signed(Algorithm::ES256, Some("kept"), &from_provider(60), &kept);
            let on_dropped = signed(
                Algorithm::ES256,
                Some("dropped"),
                &from_provider(60),
                &dropped,
            );
            for _ in 0..2 {
                assert!(keys.verify(&on_kept).is_ok());
                assert!(keys.verify(&on_dropped).is_ok());
            }

            write_jwks(&path, &[&kept_jwk]);
            assert_eq!(refusal(&keys, &on_dropped), "token key unknown");
            assert_eq!(
                refusal(&keys, &on_dropped),
                "token key unknown",
                "and stays so"
            );
            assert_eq!(
                keys.verify(&on_kept).unwrap().subject,
                "li.wei",
                "a token of a key still in the file stays good"
            );
        }

        #[test]
        fn a_key_rotated_in_is_taken_at_once_and_one_rotated_out_is_refused() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("jwks.json");
            let (old, old_jwk) = ec_key("2026-11");
            write_jwks(&path, &[&old_jwk]);
            let keys = keys_reading(&path);
            let first = signed(Algorithm::ES256, Some("2026-11"), &from_provider(60), &old);
            assert!(keys.verify(&first).is_ok());

            let (new, new_jwk) = ec_key("2026-12");
            write_jwks(&path, &[&new_jwk]);
            let claims = from_provider(61);
            assert_eq!(
                keys.verify(&signed(Algorithm::ES256, Some("2026-12"), &claims, &new))
                    .unwrap()
                    .subject,
                "li.wei",
                "the new key id is looked for in the file at once"
            );
            let remembered_refusal = refusal(&keys, &first);
            assert_eq!(
                refusal(
                    &keys,
                    &signed(Algorithm::ES256, Some("2026-11"), &claims, &old)
                ),
                "token key unknown"
            );

            // Remembered as verified, the first token's key is gone with the set it was in.
            assert_eq!(remembered_refusal, "token key unknown");

            // A file half-written by its updater keeps the keys read before.
            std::fs::write(&path, "{\"keys\": [").unwrap();
            assert!(
                keys.verify(&signed(
                    Algorithm::ES256,
                    Some("2026-12"),
                    &from_provider(62),
                    &new
                ))
                .is_ok()
            );
            // And such a file, or none, stops a start.
            assert!(crate::jwks::read(&path).is_err());
            assert!(crate::jwks::read(&dir.path().join("missing.json")).is_err());
        }
    }
}
