//! Blob versions and blob-trigger receipts, on both backends.

use std::collections::HashSet;

use fnwire_storage::MessageBody;

use crate::{on_both, on_both_blob_stores};

#[test]
fn every_write_makes_a_new_version_with_its_properties() {
    on_both_blob_stores(|backend, blobs| {
        blobs.write("uploads/cat.png", b"first").unwrap();
        let (body, first) = blobs.read_with_properties("uploads/cat.png").unwrap().unwrap();
        assert_eq!(body, b"first", "{backend}");
        assert_eq!((first.length, first.content_type.as_str()), (5, "image/png"), "{backend}");
        assert_eq!((first.container(), first.name()), ("uploads", "cat.png"), "{backend}");
        assert!(first.etag.starts_with("0x") && first.etag.len() > 2, "{backend}: {}", first.etag);
        assert_eq!(blobs.read_with_properties("uploads/cat.png").unwrap().unwrap().1, first, "{backend}");
        blobs.write("uploads/cat.png", b"second!").unwrap();
        blobs.write("uploads/notes/a.unknownext", b"x").unwrap();
        blobs.write("other/cat.png", b"x").unwrap();
        let listed = blobs.list_properties("uploads").unwrap();
        let paths: Vec<_> = listed.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["uploads/cat.png", "uploads/notes/a.unknownext"], "{backend}");
        assert_ne!(listed[0].etag, first.etag, "{backend}: an overwrite is a new version");
        assert_eq!(listed[0].length, 7, "{backend}");
        assert_eq!(listed[1].content_type, "application/octet-stream", "{backend}");
        assert!(blobs.uri("uploads/cat.png").ends_with("uploads/cat.png"), "{backend}");
        assert!(blobs.delete("uploads/cat.png").unwrap(), "{backend}");
        assert!(!blobs.delete("uploads/cat.png").unwrap(), "{backend}: already gone");
        assert!(blobs.read_with_properties("uploads/cat.png").unwrap().is_none(), "{backend}");
    });
}

#[test]
fn a_blob_version_is_queued_once_per_function_and_a_new_version_again() {
    on_both(|backend, store, _clock| {
        let work = |etag: &str| MessageBody::new("blob-work", format!("run for {etag}").into_bytes());
        assert!(store.enqueue_blob_version("resize", "uploads/a", "0x1", &work("0x1")).unwrap(), "{backend}");
        assert!(
            !store.enqueue_blob_version("resize", "uploads/a", "0x1", &work("0x1")).unwrap(),
            "{backend}"
        );
        assert!(
            store.enqueue_blob_version("index", "uploads/a", "0x1", &work("0x1")).unwrap(),
            "{backend}: each function has its own receipt"
        );
        assert!(store.enqueue_blob_version("resize", "uploads/a", "0x2", &work("0x2")).unwrap(), "{backend}");
        let bodies: Vec<_> = store.peek("blob-work", 10).unwrap().into_iter().map(|m| m.body).collect();
        assert_eq!(
            bodies,
            [b"run for 0x1".to_vec(), b"run for 0x1".to_vec(), b"run for 0x2".to_vec()],
            "{backend}"
        );
        let bad = store.enqueue_blob_version(
            "resize",
            "uploads/b",
            "0x1",
            &MessageBody::new("Bad_Queue", b"x".to_vec()),
        );
        assert!(bad.is_err(), "{backend}");
        assert!(
            store.enqueue_blob_version("resize", "uploads/b", "0x1", &work("0x1")).unwrap(),
            "{backend}: a refused call recorded nothing"
        );
    });
}

#[test]
fn hosts_finding_one_version_together_queue_it_once() {
    on_both(|backend, store, _clock| {
        let winners = std::sync::Mutex::new(HashSet::new());
        std::thread::scope(|s| {
            for host in 0..4 {
                let winners = &winners;
                s.spawn(move || {
                    for blob in 0..10 {
                        let path = format!("uploads/{blob}");
                        let work = MessageBody::new("blob-work", path.clone().into_bytes());
                        if store.enqueue_blob_version("resize", &path, "0xA", &work).unwrap() {
                            assert!(winners.lock().unwrap().insert(blob), "{backend}: host {host} won twice");
                        }
                    }
                });
            }
        });
        assert_eq!(winners.lock().unwrap().len(), 10, "{backend}");
        assert_eq!(store.message_count("blob-work").unwrap(), 10, "{backend}");
    });
}
