use fnwire_storage::{ScheduleStatus, Store};

#[test]
fn schedule_status_persists_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let status = ScheduleStatus {
        last: "2027-01-01T00:00:00+00:00".into(),
        next: "2027-01-01T00:05:00+00:00".into(),
        last_updated: "2027-01-01T00:00:01+00:00".into(),
    };
    {
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schedule_status("tick").unwrap(), None);
        store.set_schedule_status("tick", &status).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.schedule_status("tick").unwrap(), Some(status.clone()));
    let newer = ScheduleStatus { next: "2027-01-01T00:10:00+00:00".into(), ..status };
    store.set_schedule_status("tick", &newer).unwrap();
    assert_eq!(store.schedule_status("tick").unwrap(), Some(newer));
}
