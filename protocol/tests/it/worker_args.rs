use fnwire_protocol::{WorkerArgs, WorkerArgsError};

const HOST_ARGS: &[&str] = &[
    "--host",
    "127.0.0.1",
    "--port",
    "5000",
    "--workerId",
    "legacy-w",
    "--requestId",
    "legacy-r",
    "--grpcMaxMessageLength",
    "2147483647",
    "--functions-uri",
    "http://127.0.0.1:6000/",
    "--functions-worker-id",
    "w1",
    "--functions-request-id",
    "r1",
    "--functions-grpc-max-message-length",
    "2147483647",
];

#[test]
fn prefers_functions_flags() {
    let args = WorkerArgs::parse(HOST_ARGS.iter().copied()).unwrap();
    assert_eq!(args.host_uri, "http://127.0.0.1:6000/");
    assert_eq!(args.worker_id, "w1");
    assert_eq!(args.request_id, "r1");
    assert_eq!(args.grpc_max_message_length, Some(2147483647));
}

#[test]
fn accepts_legacy_flags_alone() {
    let args = WorkerArgs::parse(HOST_ARGS[..10].iter().copied()).unwrap();
    assert_eq!(args.host_uri, "http://127.0.0.1:5000/");
    assert_eq!(args.worker_id, "legacy-w");
    assert_eq!(args.request_id, "legacy-r");
}

#[test]
fn ignores_unknown_flags_and_their_values() {
    let mut argv = vec!["worker.py", "--some-new-flag", "value", "--flag-without-value"];
    argv.extend(HOST_ARGS.iter().copied());
    argv.extend(["--trailing", "x"]);
    let args = WorkerArgs::parse(argv).unwrap();
    assert_eq!(args.worker_id, "w1");
}

#[test]
fn accepts_equals_form() {
    let args = WorkerArgs::parse([
        "--functions-uri=http://[::1]:7000/",
        "--functions-worker-id=w",
        "--functions-request-id=r",
    ])
    .unwrap();
    assert_eq!(args.host_uri, "http://[::1]:7000/");
    assert_eq!(args.grpc_max_message_length, None);
}

#[test]
fn zero_or_negative_max_length_means_unlimited() {
    for v in ["0", "-1"] {
        let args = WorkerArgs::parse([
            "--functions-uri",
            "http://127.0.0.1:1/",
            "--functions-worker-id",
            "w",
            "--functions-request-id",
            "r",
            "--functions-grpc-max-message-length",
            v,
        ])
        .unwrap();
        assert_eq!(args.grpc_max_message_length, None, "{v}");
    }
}

#[test]
fn missing_flags_are_named_with_what_to_do() {
    let err = WorkerArgs::parse(["--functions-worker-id", "w"]).unwrap_err();
    assert_eq!(
        err,
        WorkerArgsError::Missing(vec![
            "--functions-uri (or --host and --port)",
            "--functions-request-id (or --requestId)"
        ])
    );
    let text = err.to_string();
    assert!(text.contains("--functions-uri") && text.contains("fnwire start"), "{text}");
}

#[test]
fn bad_values_are_errors_not_panics() {
    let err = WorkerArgs::parse(["--host", "h", "--port", "99999", "--workerId", "w", "--requestId", "r"])
        .unwrap_err();
    assert!(matches!(err, WorkerArgsError::Invalid { ref flag, .. } if flag == "--port"), "{err}");
    let err = WorkerArgs::parse([
        "--functions-uri",
        "127.0.0.1:1",
        "--functions-worker-id",
        "w",
        "--functions-request-id",
        "r",
    ])
    .unwrap_err();
    assert!(err.to_string().contains("http://"), "{err}");
    let err = WorkerArgs::parse(["--functions-worker-id"]).unwrap_err();
    assert!(err.to_string().contains("needs a value"), "{err}");
}

#[test]
fn to_args_round_trips_through_parse() {
    let args = WorkerArgs {
        host_uri: "http://127.0.0.1:4321/".into(),
        worker_id: "w".into(),
        request_id: "r".into(),
        grpc_max_message_length: None,
    };
    let rendered = args.to_args(4321);
    assert!(rendered.windows(2).any(|w| w == ["--port", "4321"]));
    assert!(rendered.windows(2).any(|w| w == ["--grpcMaxMessageLength", "2147483647"]));
    let parsed = WorkerArgs::parse(rendered).unwrap();
    assert_eq!(parsed.host_uri, args.host_uri);
    assert_eq!(parsed.worker_id, "w");
    // The rendered flags carry the host's default limit, which parses back as a number.
    assert_eq!(parsed.grpc_max_message_length, Some(i32::MAX as usize));
    // Legacy-only parse of the same line gives the same address.
    let legacy: Vec<String> =
        WorkerArgs::parse(["--host", "127.0.0.1", "--port", "4321", "--workerId", "w", "--requestId", "r"])
            .map(|a| vec![a.host_uri])
            .unwrap();
    assert_eq!(legacy, vec![args.host_uri.clone()]);
}
