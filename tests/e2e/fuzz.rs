//! Hostile input, structure-aware: requests for every RPC of every service made from the
//! descriptors (random and boundary values, huge and odd strings, invalid UTF-8, unknown enum
//! numbers, mangled bytes, deep nesting, oversized frames). No call may panic the server or
//! answer INTERNAL or another status the API does not promise; a refused call writes
//! nothing. `KEFU_FUZZ_CASES` sets the number of cases (CI runs a bounded number; set it high
//! for a long run) and `KEFU_FUZZ_SEED` replays a run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Buf as _, BufMut as _, Bytes};
use kefu_platform::auth::{Role, SCOPE_PII_READ};
use kefu_testkit::{App, Backend, Spawn};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    MethodDescriptor, Value,
};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Code, Status};

/// Cases CI runs: enough to reach every RPC many times in well under a minute.
const CI_CASES: u64 = 3000;

/// The statuses the API documents for a refusal; INTERNAL, UNKNOWN, DATA_LOSS, UNAVAILABLE,
/// DEADLINE_EXCEEDED and UNIMPLEMENTED are findings.
const DOCUMENTED: [Code; 10] = [
    Code::Ok,
    Code::InvalidArgument,
    Code::NotFound,
    Code::AlreadyExists,
    Code::FailedPrecondition,
    Code::PermissionDenied,
    Code::Unauthenticated,
    Code::OutOfRange,
    Code::ResourceExhausted,
    Code::Aborted,
];

/// Sends bytes as they are and keeps the answer's bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Strings that have broken parsers, queries and logs before.
const NASTY: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "客服 物流",
    "🚚📦",
    "\u{202e}gnp.exe",
    "\0",
    "\u{1}\u{7f}\u{ffff}",
    "' OR 1=1 --",
    "\"; DROP TABLE orders; --",
    "../../../../etc/passwd",
    "%s%s%s%n",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "NaN",
    "9999-12-31T23:59:59Z",
    "00000000-0000-0000-0000-000000000000",
    "cus_",
];

struct Fuzzer {
    rng: StdRng,
}

impl Fuzzer {
    fn string(&mut self) -> String {
        match self.rng.random_range(0..10) {
            0..=3 => NASTY[self.rng.random_range(0..NASTY.len())].to_owned(),
            4..=6 => (0..self.rng.random_range(1..40))
                .map(|_| char::from(self.rng.random_range(b' '..=b'~')))
                .collect(),
            7 => "x".repeat(self.rng.random_range(1_000..70_000)),
            8 => (0..self.rng.random_range(1..20))
                .filter_map(|_| char::from_u32(self.rng.random_range(0..0x11_0000)))
                .collect(),
            _ => uuid::Uuid::new_v4().to_string(),
        }
    }

    fn bytes(&mut self) -> Bytes {
        match self.rng.random_range(0..4) {
            // Not UTF-8: a lone continuation byte and an overlong encoding.
            0 => Bytes::from_static(&[0xff, 0xfe, 0x80, 0xc0, 0xaf]),
            1 => Bytes::new(),
            2 => Bytes::from(vec![0u8; self.rng.random_range(1..100_000)]),
            _ => Bytes::from(
                (0..self.rng.random_range(1..64))
                    .map(|_| self.rng.random())
                    .collect::<Vec<u8>>(),
            ),
        }
    }

    fn int(&mut self) -> i64 {
        const EDGES: [i64; 9] = [
            0,
            1,
            -1,
            i32::MIN as i64,
            i32::MAX as i64,
            i64::MIN,
            i64::MAX,
            1 << 53,
            86_400,
        ];
        if self.rng.random_bool(0.6) {
            EDGES[self.rng.random_range(0..EDGES.len())]
        } else {
            self.rng.random_range(-1_000_000..1_000_000)
        }
    }

    fn value(&mut self, field: &FieldDescriptor, kind: &Kind, depth: u32) -> Value {
        match kind {
            Kind::Double => Value::F64(
                [0.0, -1.0, f64::NAN, f64::INFINITY, f64::MAX, 1e-300, 3.5]
                    [self.rng.random_range(0..7)],
            ),
            Kind::Float => Value::F32(
                [0.0, -1.0, f32::NAN, f32::NEG_INFINITY, f32::MAX, 2.5]
                    [self.rng.random_range(0..6)],
            ),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(self.int() as i32),
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(self.int()),
            Kind::Uint32 | Kind::Fixed32 => Value::U32(self.int() as u32),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(self.int() as u64),
            Kind::Bool => Value::Bool(self.rng.random()),
            Kind::String => Value::String(self.string()),
            Kind::Bytes => Value::Bytes(self.bytes()),
            Kind::Enum(e) => {
                let values: Vec<i32> = e.values().map(|v| v.number()).collect();
                if self.rng.random_bool(0.8) && !values.is_empty() {
                    Value::EnumNumber(values[self.rng.random_range(0..values.len())])
                } else {
                    Value::EnumNumber([-1, 999, i32::MAX, i32::MIN][self.rng.random_range(0..4)])
                }
            }
            Kind::Message(m) => {
                let _ = field;
                Value::Message(self.message(m, depth + 1))
            }
        }
    }

    fn message(&mut self, descriptor: &MessageDescriptor, depth: u32) -> DynamicMessage {
        let mut message = DynamicMessage::new(descriptor.clone());
        if depth > 6 {
            return message;
        }
        // Well-known types are set whole, so that a timestamp is sometimes a real one.
        if descriptor.full_name() == "google.protobuf.Timestamp" {
            message.set_field_by_name("seconds", Value::I64(self.int()));
            message.set_field_by_name(
                "nanos",
                Value::I32([0, -1, 999_999_999, 1_000_000_000][self.rng.random_range(0..4)]),
            );
            return message;
        }
        for field in descriptor.fields() {
            if !self.rng.random_bool(0.7) {
                continue;
            }
            let kind = field.kind();
            let value = if field.is_map() {
                let Kind::Message(entry) = &kind else {
                    continue;
                };
                let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
                let mut map = std::collections::HashMap::new();
                for _ in 0..self.rng.random_range(0..4) {
                    let key = match self.value(&key, &key.kind(), depth) {
                        Value::String(s) => MapKey::String(s),
                        Value::I32(n) => MapKey::I32(n),
                        Value::I64(n) => MapKey::I64(n),
                        Value::U32(n) => MapKey::U32(n),
                        Value::U64(n) => MapKey::U64(n),
                        Value::Bool(b) => MapKey::Bool(b),
                        _ => continue,
                    };
                    map.insert(key, self.value(&value, &value.kind(), depth));
                }
                Value::Map(map)
            } else if field.is_list() {
                let n = if self.rng.random_bool(0.05) {
                    self.rng.random_range(100..2_000)
                } else {
                    self.rng.random_range(0..4)
                };
                Value::List((0..n).map(|_| self.value(&field, &kind, depth)).collect())
            } else {
                self.value(&field, &kind, depth)
            };
            message.set_field(&field, value);
        }
        message
    }

    /// The bytes of one case for `method`, and what kind of case it is.
    fn case(&mut self, method: &MethodDescriptor) -> (Bytes, &'static str) {
        let encoded = Bytes::from(self.message(&method.input(), 0).encode_to_vec());
        match self.rng.random_range(0..100) {
            0..=69 => (encoded, "generated"),
            70..=89 => {
                let mut bytes = encoded.to_vec();
                match self.rng.random_range(0..3) {
                    0 if !bytes.is_empty() => bytes.truncate(self.rng.random_range(0..bytes.len())),
                    1 => {
                        for _ in 0..self.rng.random_range(1..8) {
                            if let Some(i) =
                                (!bytes.is_empty()).then(|| self.rng.random_range(0..bytes.len()))
                            {
                                bytes[i] ^= 1 << self.rng.random_range(0..8);
                            }
                        }
                    }
                    // An unterminated varint, then garbage.
                    _ => bytes.extend_from_slice(&[
                        0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
                    ]),
                }
                (Bytes::from(bytes), "mangled")
            }
            90..=97 => {
                // Field 1 as a length-delimited value inside itself, 200 deep.
                let mut bytes: Vec<u8> = Vec::new();
                for _ in 0..200 {
                    let mut outer = vec![0x0a];
                    prost::encoding::encode_varint(bytes.len() as u64, &mut outer);
                    outer.extend_from_slice(&bytes);
                    bytes = outer;
                }
                (Bytes::from(bytes), "nested")
            }
            _ => (Bytes::from(vec![0x0a; 5 * 1024 * 1024]), "oversized"),
        }
    }
}

/// Rows of every table of every service's database.
async fn rows(app: &App) -> BTreeMap<(String, String), i64> {
    let mut rows = BTreeMap::new();
    for service in kefu::SERVICES {
        for table in app.tables(service.name()).await {
            let n = app.count(service.name(), &format!("\"{table}\"")).await;
            rows.insert((service.name().to_owned(), table), n);
        }
    }
    rows
}

/// Whether `method` only reads, by its name.
fn reads(method: &MethodDescriptor) -> bool {
    [
        "Get", "List", "Stream", "Watch", "Export", "Search", "Preview", "Check",
    ]
    .iter()
    .any(|verb| method.name().starts_with(verb))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn x1_hostile_requests_to_every_rpc_are_refused_cleanly_and_write_nothing() {
    let cases: u64 = std::env::var("KEFU_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CI_CASES);
    let seed: u64 = std::env::var("KEFU_FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(rand::random);
    println!("fuzz: {cases} cases, KEFU_FUZZ_SEED={seed}");
    // A finding's cause is in the server's error log, which the test prints.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("error")
        .with_test_writer()
        .try_init();
    let pool = DescriptorPool::decode(kefu_proto::FILE_DESCRIPTOR_SET).unwrap();
    let methods: Vec<MethodDescriptor> = kefu::SERVICES
        .iter()
        .flat_map(|s| {
            pool.get_service_by_name(s.grpc_service())
                .unwrap_or_else(|| panic!("no descriptor of {}", s.grpc_service()))
                .methods()
                .collect::<Vec<_>>()
        })
        .collect();
    let app = Spawn::new(kefu::SERVICES, Backend::Postgres).start().await;
    let before = rows(&app).await;
    let manager = app.token("fuzz", Role::Manager, &[SCOPE_PII_READ], "");
    let services: Vec<String> = kefu::SERVICES
        .iter()
        .map(|s| app.token(s.name(), Role::Service, &[SCOPE_PII_READ], ""))
        .collect();
    let channel = app.channel().await;
    let mut fuzzer = Fuzzer {
        rng: StdRng::seed_from_u64(seed),
    };

    let started = Instant::now();
    let mut answers: BTreeMap<(&str, String), u64> = BTreeMap::new();
    let mut findings = Vec::new();
    let mut written_by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut oversized = 0;
    for case in 0..cases {
        let method = &methods[fuzzer.rng.random_range(0..methods.len())];
        let (bytes, shape) = fuzzer.case(method);
        if shape == "oversized" {
            // A few make the point; each costs 5 MiB on the wire.
            oversized += 1;
            if oversized > 10 {
                continue;
            }
        }
        let token = if fuzzer.rng.random_bool(0.7) {
            &manager
        } else {
            &services[fuzzer.rng.random_range(0..services.len())]
        };
        let path: http::uri::PathAndQuery =
            format!("/{}/{}", method.parent_service().full_name(), method.name())
                .parse()
                .unwrap();
        let mut request = tonic::Request::new(bytes.clone());
        request.set_timeout(Duration::from_secs(10));
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        request
            .metadata_mut()
            .insert("x-kefu-purpose", "fuzz".parse().unwrap());
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let code = if method.is_server_streaming() {
            match grpc.server_streaming(request, path, RawCodec).await {
                // A live stream that opened is a success; the first message is enough.
                Ok(mut stream) => {
                    let _ = tokio::time::timeout(
                        Duration::from_millis(100),
                        stream.get_mut().message(),
                    )
                    .await;
                    Code::Ok
                }
                Err(status) => status.code(),
            }
        } else {
            match grpc.unary(request, path, RawCodec).await {
                Ok(_) => Code::Ok,
                Err(status) => {
                    if !DOCUMENTED.contains(&status.code()) {
                        findings.push(format!(
                            "case {case} ({shape}, {} bytes) {}: {:?} {}",
                            bytes.len(),
                            method.full_name(),
                            status.code(),
                            status.message()
                        ));
                    }
                    status.code()
                }
            }
        };
        if code == Code::Ok && !reads(method) {
            written_by
                .entry(method.parent_service().full_name().to_owned())
                .or_default()
                .push(method.name().to_owned());
        }
        *answers.entry((shape, format!("{code:?}"))).or_default() += 1;
    }
    println!(
        "fuzz: {cases} cases over {} RPCs in {:.1} s; answers by case: {answers:?}; \
         writes that succeeded: {written_by:?}",
        methods.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        findings.is_empty(),
        "statuses the API does not promise (replay with KEFU_FUZZ_SEED={seed}):\n{}",
        findings.join("\n")
    );

    // The server is still whole: it answers a plain call.
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("the server survived");

    let after = rows(&app).await;
    for service in kefu::SERVICES {
        if written_by.contains_key(service.grpc_service()) {
            continue;
        }
        for ((owner, table), n) in &after {
            if owner == service.name() {
                assert_eq!(
                    before.get(&(owner.clone(), table.clone())),
                    Some(n),
                    "{owner}.{table} changed, though no write to {owner} succeeded"
                );
            }
        }
    }
}
