//! A real scheduler on loopback answers malformed requests to every gRPC method it serves —
//! every method of every service in `atoll_proto::FILE_DESCRIPTOR_SET`, gRPC health and server
//! reflection, enumerated from their descriptor sets — with a gRPC status carrying a message
//! (or, for a request that happens to be acceptable, a well-formed response), and never
//! crashes: each method gets an empty message, no message at all, two messages, random bytes,
//! requests built from the method's input type cut short, flipped, or whole, and one message
//! over the size limit, sent through a raw-bytes codec. Server-streaming methods are read
//! until they end, fail, or stay quiet (a subscription still open is an answer). After the
//! barrage the scheduler still reports SERVING to a health check and answers a ListJobs.
//!
//! The services the descriptor set declares but other processes serve (an agent's log
//! service) are listed, and the test checks the list against the descriptor set and against
//! what the scheduler answers, so it cannot go stale. Bounded: 20 calls per method, seeded.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use atoll_proto::v1;
use atoll_storage::MemoryStore;
use prost::Message;
use prost::bytes::{Buf, BufMut};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FieldDescriptorProto, FileDescriptorSet};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// Services in the descriptor sets that the scheduler does not serve, and who does.
const SERVED_ELSEWHERE: &[(&str, &str)] = &[
    ("atoll.v1.AgentLogService", "each agent, for the scheduler's LogService"),
    ("atoll.v1.ExecutorService", "the executor of each task run by a custom executor, on a Unix socket, for it"),
];

/// Calls per method.
const CALLS: usize = 20;
/// The longest a call may take to answer; far more than any needs.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// How long a response stream may stay quiet before it counts as open and well.
const QUIET: Duration = Duration::from_millis(300);
/// The server's limit on a request message (tonic's default).
const MAX_MESSAGE: usize = 4 << 20;

// ---------------------------------------------------------------------------------------------
// A codec that sends and receives message bytes as they are.

#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
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
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len).to_vec()))
    }
}

// ---------------------------------------------------------------------------------------------
// The methods, from the descriptor sets.

struct Method {
    service: String,
    name: String,
    input: String,
    server_streaming: bool,
    client_streaming: bool,
}

impl Method {
    fn path(&self) -> String {
        format!("/{}/{}", self.service, self.name)
    }
}

struct Descriptors {
    methods: Vec<Method>,
    /// Every message type by its full name, `.package.Message[.Nested]`.
    messages: HashMap<String, DescriptorProto>,
}

fn descriptors() -> Descriptors {
    let sets = [
        atoll_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
    ];
    let mut methods = Vec::new();
    let mut messages = HashMap::new();
    fn add_messages(prefix: &str, types: &[DescriptorProto], into: &mut HashMap<String, DescriptorProto>) {
        for message in types {
            let name = format!("{prefix}.{}", message.name());
            add_messages(&name, &message.nested_type, into);
            into.insert(name, message.clone());
        }
    }
    for set in sets {
        let set = FileDescriptorSet::decode(set).expect("a generated descriptor set decodes");
        for file in &set.file {
            let package = file.package();
            add_messages(&format!(".{package}"), &file.message_type, &mut messages);
            for service in &file.service {
                for method in &service.method {
                    methods.push(Method {
                        service: format!("{package}.{}", service.name()),
                        name: method.name().to_owned(),
                        input: method.input_type().to_owned(),
                        server_streaming: method.server_streaming(),
                        client_streaming: method.client_streaming(),
                    });
                }
            }
        }
    }
    Descriptors { methods, messages }
}

// ---------------------------------------------------------------------------------------------
// Inputs: random bytes, and requests built from the input type's fields with plausible values.

/// SplitMix64: a small seeded generator, so every run sends the same barrage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A plausible value for a string field, by its name: real names, so that some requests get
/// past validation into the scheduler.
fn string_for(field: &str, rng: &mut Rng) -> String {
    let choices: &[&str] = match field {
        "cluster" => &["devcluster", "devcluster", "elsewhere", ""],
        "role" => &["www-data", "www-data", "bad role"],
        "environment" => &["devel", "prod", "test"],
        "name" => &["hello", "web", "hello"],
        "agent_id" => &["agent-1", "agent-2", ""],
        "hostname" | "host" | "hosts" => &["host-1", "host-2"],
        "task_id" | "task_ids" => &["www-data-devel-hello-0-x", "nope"],
        "cmdline" => &["echo hi", "sleep 1"],
        "attribute" => &["host", "rack", "dedicated"],
        "rule" => &["limit:1", "unique", "like:(", "limit:0"],
        "path" | "zk_path" => &["/aurora", "/aurora/www-data", "relative", "/"],
        "kinds" => &["task", "job", "tasks"],
        "instances" => &["0", "0-3", "x"],
        "state" | "states" => &["RUNNING", "NOPE"],
        "log_address" => &["127.0.0.1:1", "0.0.0.0:1", "not an address"],
        "stream" => &["stdout", "stderr", "neither"],
        _ => &["", "x", "devcluster", "hello", "\u{e9}", "0"],
    };
    (*rng.pick(choices)).to_owned()
}

/// An encoding of `type_name` with each field present by chance, nested to `depth`.
fn sample(type_name: &str, descriptors: &Descriptors, rng: &mut Rng, depth: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let Some(message) = descriptors.messages.get(type_name) else { return out };
    let mut oneofs_done = std::collections::HashSet::new();
    for field in &message.field {
        if let Some(oneof) = field.oneof_index
            && !field.proto3_optional()
        {
            if oneofs_done.contains(&oneof) || !rng.chance(50) {
                continue;
            }
            oneofs_done.insert(oneof);
        } else if !rng.chance(75) {
            continue;
        }
        let repeats = if field.label() == Label::Repeated { 1 + rng.below(2) } else { 1 };
        for _ in 0..repeats {
            encode_field(field, descriptors, rng, depth, &mut out);
        }
    }
    out
}

fn encode_field(field: &FieldDescriptorProto, descriptors: &Descriptors, rng: &mut Rng, depth: u32, out: &mut Vec<u8>) {
    let number = u64::from(field.number().unsigned_abs());
    let key = |wire_type: u64, out: &mut Vec<u8>| put_varint(out, (number << 3) | wire_type);
    match field.r#type() {
        Type::Double => {
            key(1, out);
            out.extend_from_slice(&rng.pick(&[0.1f64, 1.0, 16.0, -1.0, f64::NAN, f64::INFINITY]).to_le_bytes());
        }
        Type::Float => {
            key(5, out);
            out.extend_from_slice(&rng.pick(&[0.1f32, 1.0, -1.0, f32::NAN]).to_le_bytes());
        }
        Type::Fixed64 | Type::Sfixed64 => {
            key(1, out);
            out.extend_from_slice(&rng.next().to_le_bytes());
        }
        Type::Fixed32 | Type::Sfixed32 => {
            key(5, out);
            out.extend_from_slice(&(rng.next() as u32).to_le_bytes());
        }
        Type::String => {
            key(2, out);
            let text = string_for(field.name(), rng);
            put_varint(out, text.len() as u64);
            out.extend_from_slice(text.as_bytes());
        }
        Type::Bytes => {
            key(2, out);
            let bytes = rng.bytes(16);
            put_varint(out, bytes.len() as u64);
            out.extend_from_slice(&bytes);
        }
        Type::Message | Type::Group => {
            if depth == 0 {
                return;
            }
            let inner = sample(field.type_name(), descriptors, rng, depth - 1);
            key(2, out);
            put_varint(out, inner.len() as u64);
            out.extend_from_slice(&inner);
        }
        // Every varint type: enums, bools and integers, mostly small, sometimes huge or negative.
        _ => {
            key(0, out);
            let value = *rng.pick(&[0u64, 1, 1, 1, 2, 3, 16, 64, 1000, u64::MAX, u64::from(u32::MAX), 70_000]);
            put_varint(out, value);
        }
    }
}

/// Whether `bytes` is a well-formed protobuf message (fields of the known wire types, each
/// whole).
fn well_formed(mut bytes: &[u8]) -> bool {
    fn varint(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    while !bytes.is_empty() {
        let Some(key) = varint(&mut bytes) else { return false };
        if key >> 3 == 0 {
            return false;
        }
        let skip = match key & 7 {
            0 => match varint(&mut bytes) {
                Some(_) => 0,
                None => return false,
            },
            1 => 8,
            2 => match varint(&mut bytes).and_then(|n| usize::try_from(n).ok()) {
                Some(n) => n,
                None => return false,
            },
            5 => 4,
            _ => return false,
        };
        if skip > bytes.len() {
            return false;
        }
        bytes = &bytes[skip..];
    }
    true
}

/// One hostile call: what it sends, as messages, and what it is.
struct Case {
    label: String,
    messages: Vec<Vec<u8>>,
}

fn cases(method: &Method, descriptors: &Descriptors, rng: &mut Rng) -> Vec<Case> {
    let sample = |rng: &mut Rng| sample(&method.input, descriptors, rng, 4);
    let one = |label: String, message: Vec<u8>| Case { label, messages: vec![message] };
    let mut cases = vec![
        one("an empty message".into(), Vec::new()),
        Case { label: "no message at all".into(), messages: Vec::new() },
        Case { label: "two messages".into(), messages: vec![sample(rng), sample(rng)] },
        one("a message over the size limit".into(), vec![0x0a; MAX_MESSAGE + 1]),
    ];
    for n in 0..5 {
        cases.push(one(format!("random bytes #{n}"), rng.bytes(64)));
    }
    for n in 0..5 {
        // Padded to two bytes at least, so there is somewhere to cut (an empty request type
        // samples to nothing).
        let mut whole = sample(rng);
        while whole.len() < 2 {
            whole.push(rng.next() as u8);
        }
        let cut = 1 + rng.below(whole.len() - 1);
        cases.push(one(format!("a request cut at {cut} of {} bytes #{n}", whole.len()), whole[..cut].to_vec()));
    }
    for n in 0..3 {
        cases.push(one(format!("a whole request #{n}"), sample(rng)));
    }
    while cases.len() < CALLS {
        let mut bytes = sample(rng);
        if !bytes.is_empty() {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        cases.push(one(format!("a request with a bit flipped #{}", cases.len()), bytes));
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// Calling, and judging the answer.

/// What a call got back.
#[derive(Debug)]
enum Answer {
    /// A status the server sent (an OK end of a stream is `Messages { ended: true }`).
    Refused(Status),
    Messages {
        messages: Vec<Vec<u8>>,
        ended: bool,
    },
}

async fn call(channel: &Channel, method: &Method, case: &Case) -> Result<Answer, String> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.map_err(|e| format!("the channel is not ready: {e}"))?;
    let path = method.path().parse().expect("a method path");
    let request = tonic::Request::new(tokio_stream::iter(case.messages.clone()));
    let response = match tokio::time::timeout(ANSWER_WITHIN, grpc.streaming(request, path, RawCodec)).await {
        Err(_) => return Err(format!("no answer within {ANSWER_WITHIN:?}")),
        Ok(Err(status)) => return Ok(Answer::Refused(status)),
        Ok(Ok(response)) => response,
    };
    let mut stream = response.into_inner();
    let mut messages = Vec::new();
    let started = Instant::now();
    loop {
        let quiet = if method.server_streaming { QUIET } else { ANSWER_WITHIN };
        match tokio::time::timeout(quiet, stream.message()).await {
            Err(_) if method.server_streaming => return Ok(Answer::Messages { messages, ended: false }),
            Err(_) => return Err(format!("no end to the answer within {ANSWER_WITHIN:?}")),
            Ok(Ok(Some(message))) => messages.push(message),
            Ok(Ok(None)) => return Ok(Answer::Messages { messages, ended: true }),
            Ok(Err(status)) => return Ok(Answer::Refused(status)),
        }
        if started.elapsed() > ANSWER_WITHIN || messages.len() > 10_000 {
            return Ok(Answer::Messages { messages, ended: false });
        }
    }
}

/// Whether `status` came from the server (its `grpc-status`), rather than from a connection
/// that broke: a transport failure carries its cause.
fn sent_by_the_server(status: &Status) -> bool {
    std::error::Error::source(status).is_none()
}

/// The problem with `answer` to `case`, if any.
fn judge(method: &Method, case: &Case, answer: &Answer) -> Option<String> {
    match answer {
        Answer::Refused(status) if !sent_by_the_server(status) => {
            Some(format!("the connection failed instead of an answer: {status:?}"))
        }
        Answer::Refused(status) if status.message().trim().is_empty() => {
            Some(format!("a {:?} status without a message", status.code()))
        }
        Answer::Refused(_) => None,
        Answer::Messages { messages, .. } if messages.iter().any(|m| !well_formed(m)) => {
            Some("a response that is not a well-formed message".into())
        }
        // A unary method answers one message, then ends. (tonic reads the first of two
        // messages sent to a unary method and ignores the rest; none at all is refused.)
        Answer::Messages { messages, ended } if !method.server_streaming && !method.client_streaming => (!ended
            || messages.len() != 1
            || case.messages.is_empty())
        .then(|| {
            format!("a unary call answered {} message(s) to {} (ended: {ended})", messages.len(), case.messages.len())
        }),
        Answer::Messages { .. } => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers_malformed_requests_with_a_status_and_the_scheduler_lives_on() {
    let started = Instant::now();
    let (channel, _stop, serving) = support::serve(Box::new(MemoryStore::default())).await;
    let descriptors = descriptors();
    let services: std::collections::BTreeSet<&str> = descriptors.methods.iter().map(|m| m.service.as_str()).collect();
    for (service, _) in SERVED_ELSEWHERE {
        assert!(services.contains(service), "{service} is listed as served elsewhere but is in no descriptor set");
    }
    for must in ["atoll.v1.SchedulerService", "atoll.v1.AgentService", "grpc.health.v1.Health"] {
        assert!(services.contains(must), "the descriptor sets lack {must}: {services:?}");
    }

    let mut rng = Rng(0x5eed_a701_1000_0001);
    let mut problems = Vec::new();
    let mut calls = 0;
    let mut answered_in_kind = 0;
    let mut tally: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for method in &descriptors.methods {
        let elsewhere = SERVED_ELSEWHERE.iter().any(|(service, _)| *service == method.service);
        for case in cases(method, &descriptors, &mut rng) {
            calls += 1;
            let answer = match call(&channel, method, &case).await {
                Ok(answer) => answer,
                Err(problem) => {
                    problems.push(format!("{} with {}: {problem}", method.path(), case.label));
                    continue;
                }
            };
            if elsewhere {
                // Not the scheduler's: it must say so, as gRPC does, to every request.
                if !matches!(&answer, Answer::Refused(s) if s.code() == Code::Unimplemented && sent_by_the_server(s)) {
                    problems.push(format!(
                        "{} with {}: served by the scheduler? {answer:?}",
                        method.path(),
                        case.label
                    ));
                }
                continue;
            }
            if matches!(&answer, Answer::Refused(s) if s.code() == Code::Unimplemented && s.message().is_empty()) {
                problems.push(format!(
                    "{}: the scheduler does not serve it; serve it or list it in SERVED_ELSEWHERE",
                    method.path()
                ));
                break;
            }
            if matches!(&answer, Answer::Messages { .. }) {
                answered_in_kind += 1;
            }
            let kind = match &answer {
                Answer::Refused(status) => format!("{:?}", status.code()),
                Answer::Messages { ended: true, .. } => "answered".to_owned(),
                Answer::Messages { ended: false, .. } => "still streaming".to_owned(),
            };
            *tally.entry(kind).or_default() += 1;
            if let Some(problem) = judge(method, &case, &answer) {
                problems.push(format!("{} with {}: {problem}", method.path(), case.label));
            }
        }
    }
    assert!(problems.is_empty(), "{} of {calls} calls went wrong:\n{}", problems.len(), problems.join("\n"));
    assert!(
        answered_in_kind > 0,
        "no request of {calls} was ever accepted: the inputs never reach the scheduler's logic"
    );

    assert!(!serving.is_finished(), "the scheduler stopped serving: {:?}", serving.await);
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "atoll.v1.SchedulerService"] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest { service: service.into() })
            .await
            .unwrap_or_else(|status| panic!("the health check of '{service}' failed after the barrage: {status:?}"));
        assert_eq!(
            answer.into_inner().status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "'{service}' after the barrage"
        );
    }
    let mut scheduler = v1::scheduler_service_client::SchedulerServiceClient::new(channel);
    let listed = scheduler
        .list_jobs(v1::ListJobsRequest { cluster: "devcluster".into(), role: None, environment: None })
        .await
        .unwrap_or_else(|status| panic!("ListJobs failed after the barrage: {status:?}"));
    for job in listed.into_inner().jobs {
        let key = job.key.expect("a listed job has its key");
        assert_eq!(key.cluster, "devcluster", "ListJobs of devcluster listed {key:?}");
    }
    eprintln!("{calls} hostile calls to {} methods in {:?}: {tally:?}", descriptors.methods.len(), started.elapsed());
}

/// The raw-bytes judge is itself sound: it accepts what prost writes and refuses what is cut.
#[test]
fn well_formed_tells_messages_from_fragments() {
    let key = v1::JobKey {
        cluster: "devcluster".into(),
        role: "www-data".into(),
        environment: "devel".into(),
        name: "hello".into(),
    };
    let bytes = key.encode_to_vec();
    assert!(well_formed(&bytes) && well_formed(&[]));
    assert!(!well_formed(&bytes[..bytes.len() - 1]), "a string cut short");
    assert!(!well_formed(&[0x00, 0x01]), "field number 0");
    assert!(!well_formed(&[0x0b]), "a group");
}
