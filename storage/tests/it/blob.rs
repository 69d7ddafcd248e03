use fnwire_storage::BlobStore;

#[test]
fn blobs_are_files_under_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::new(dir.path().join("blobs"));
    assert_eq!(blobs.read("done/a.txt").unwrap(), None);
    let file = blobs.write("done/a.txt", b"HELLO").unwrap();
    assert_eq!(file, dir.path().join("blobs/done/a.txt"));
    assert_eq!(blobs.read("done/a.txt").unwrap().unwrap(), b"HELLO");
    blobs.write("done/a.txt", b"again").unwrap();
    blobs.write("done/sub/b.txt", b"b").unwrap();
    assert_eq!(blobs.read("done/a.txt").unwrap().unwrap(), b"again");
    assert_eq!(blobs.list("done").unwrap(), ["done/a.txt", "done/sub/b.txt"]);
}

#[test]
fn paths_that_escape_or_name_no_blob_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::new(dir.path());
    for bad in ["../x/y", "c/../../y", "onlycontainer", "c/"] {
        let e = blobs.file_of(bad).unwrap_err();
        assert!(e.to_string().contains(bad), "{e}");
        assert!(blobs.write(bad, b"x").is_err());
    }
}
