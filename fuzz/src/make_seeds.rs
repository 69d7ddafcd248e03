//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`: worker messages
//! from the recorded conversations with Microsoft's workers (`protocol/tests/transcripts`), the
//! configuration files of the examples and the conformance apps, and the route templates,
//! expressions, schedules and requests the tests use. `scripts/fuzz.sh` runs it first.

use std::path::{Path, PathBuf};

use fnwire_protocol::prost::Message;
use fnwire_protocol::rpc::StreamingMessage;
use prost_reflect::{DescriptorPool, DynamicMessage};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the repository").to_path_buf()
}

fn write_seeds(target: &str, seeds: &[Vec<u8>]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), seed).expect("write a seed");
    }
    println!("{target}: {} seeds", seeds.len());
}

/// Worker-to-host messages of each transcript: one seed per message, and one per transcript
/// with all of them length-delimited, as the target reads a stream.
fn streaming_seeds() -> Vec<Vec<u8>> {
    let mut compiler = protox::Compiler::new([fnwire_protocol::PROTO_DIR]).expect("the .proto directory");
    compiler.open_file("FunctionRpc.proto").expect("the .proto compiles");
    let pool: DescriptorPool = compiler.descriptor_pool();
    let desc =
        pool.get_message_by_name("AzureFunctionsRpcMessages.StreamingMessage").expect("StreamingMessage");
    let mut seeds = Vec::new();
    let transcripts = repository().join("protocol/tests/transcripts");
    for entry in std::fs::read_dir(&transcripts).expect("the transcripts") {
        let path = entry.expect("a transcript").path();
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        let mut stream = Vec::new();
        for line in std::fs::read_to_string(&path).expect("read a transcript").lines() {
            let record: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            if record["dir"] != "worker->host" {
                continue;
            }
            let dynamic =
                DynamicMessage::deserialize(desc.clone(), &record["msg"]).expect("a message of our schema");
            let bytes = dynamic.encode_to_vec();
            let typed = StreamingMessage::decode(bytes.as_slice()).expect("our types decode it");
            typed.encode_length_delimited(&mut stream).expect("encode");
            seeds.push(bytes);
        }
        seeds.push(stream);
    }
    seeds
}

/// Files of the given names in the examples and the conformance apps.
fn files_named(names: &[&str]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![repository().join("examples"), repository().join("conformance")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "node_modules" | "target" | ".venv" | ".git") {
                    dirs.push(path);
                }
            } else if names.contains(&name.as_str())
                && let Ok(bytes) = std::fs::read(&path)
            {
                out.push((name, bytes));
            }
        }
    }
    out
}

fn text_seeds(texts: &[&str]) -> Vec<Vec<u8>> {
    texts.iter().map(|t| t.as_bytes().to_vec()).collect()
}

fn main() {
    write_seeds("streaming_message", &streaming_seeds());
    let requests: [&[u8]; 4] = [
        b"\x11GET /api/hello?name=Ada&x=1&x=2 HTTP/1.1\r\nHost: localhost\r\nTraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\nTracestate: k=v\r\n\r\n",
        b"\x00POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 20\r\n\r\n{\"greeting\":\"hi\",\"n\":[1,2.5,null]}",
        b"\x03POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nCookie: a=1; b=2\r\n\r\n--b\r\n\r\n\x00\x01\r\n--b--",
        b"\x1fPUT /api/items/42 HTTP/1.1\r\nHost: x\r\nX-Empty: \r\nContent-Type: text/plain\r\n\r\nplain text \xff\xfe",
    ];
    write_seeds("http_request", &requests.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
    write_seeds(
        "routes",
        &text_seeds(&[
            "api\n/api/hello/Ada\nGET\nhello/{name?}\nhello\necho",
            "api\n/api/items/42/parts/7\nPOST\nitems/{id:int}/parts/{part:int:min(1)}\nitems/{*rest}",
            "\n/products/electronics/5\nDELETE\nproducts/{category:alpha}/{id:int?}\n{*catchall}",
            "v1/api\n/v1/api/%41da/x\nGET\n{name:length(1,8)}/x\n{a}/{b:regex(^x$)}",
        ]),
    );
    write_seeds(
        "binding_expressions",
        &text_seeds(&[
            "out/{name}-{DateTime:yyyy-MM-dd}/{rand-guid}.txt\n{\"name\":\"ada\",\"n\":2}\nQueueTrigger=hello\nId=m-1",
            "{sys.methodname}/{sys.utcnow}/{sys.randguid}\n{}\n",
            "{DateTime:HH:mm:ss.fff}-{id}\n[1,2]\nid=7",
            "{{escaped}}/{unterminated\nnot json\nx",
        ]),
    );
    write_seeds(
        "ncrontab",
        &text_seeds(&[
            "*/5 * * * * *",
            "0 30 9 * * 1-5",
            "0 0 0 29 2 *",
            "0 0 */2 * * Mon,Fri",
            "00:05:00",
            "1.00:00:00",
            "0 0 0 31 4 *",
        ]),
    );
    write_seeds(
        "table_filter",
        &text_seeds(&[
            "PartitionKey eq 'orders' and (Total gt 50.0 or not Paid)",
            "Placed lt datetime'2024-05-10T00:00:00Z' and Id ne guid'00000000-0000-0000-0000-000000000001'",
            "Count ge 3L and Raw eq X'cafe' and Name eq 'O''Brien'",
            "(((a eq 1)) or b",
        ]),
    );
    let mut configs = Vec::new();
    for (name, bytes) in
        files_named(&["host.json", "function.json", "worker.config.json", "local.settings.json"])
    {
        let selector = match name.as_str() {
            "host.json" => 0u8,
            "function.json" => 1,
            "worker.config.json" => 2,
            _ => 3,
        };
        let mut seed = vec![selector];
        seed.extend_from_slice(&bytes);
        configs.push(seed);
    }
    configs.push(b"\x00{\"version\":\"2.0\",\"functionTimeout\":\"00:05:00\",\"extensions\":{\"http\":{\"routePrefix\":\"v1\"},\"queues\":{\"batchSize\":4},\"fnwire\":{\"maxConnections\":16,\"keepAliveTimeout\":\"00:02:10\",\"minRequestBodyDataRate\":{\"bytesPerSecond\":240,\"gracePeriod\":\"00:00:05\"}}}}".to_vec());
    configs.push(b"\x03{\"IsEncrypted\":false,\"Values\":{\"FUNCTIONS_WORKER_RUNTIME\":\"python\",\"N\":1,\"X\":null}}".to_vec());
    write_seeds("config_files", &configs);
}
