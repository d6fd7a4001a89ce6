//! Replays every input kept under tests/fuzz_regressions/<target>/ (seeds and any crash
//! the fuzzers found, scripts/fuzz.sh) through the same entry points the fuzz targets
//! use, so a fixed crash stays fixed.

use std::path::Path;

fn replay(target: &str, run: impl Fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        run(&data);
        count += 1;
    }
    assert!(count > 0, "no inputs in {}", dir.display());
}

fn text(run: impl Fn(&str)) -> impl Fn(&[u8]) {
    move |data| {
        if let Ok(s) = std::str::from_utf8(data) {
            run(s)
        }
    }
}

#[test]
fn www_authenticate_inputs() {
    replay("www_authenticate", text(acrctl::fuzzing::www_authenticate));
}

#[test]
fn docker_config_merge_inputs() {
    replay("docker_config_merge", acrctl::fuzzing::docker_config_merge);
}

#[test]
fn cloud_metadata_inputs() {
    replay("cloud_metadata", text(acrctl::fuzzing::cloud_metadata));
}

#[test]
fn jwt_claims_inputs() {
    replay("jwt_claims", text(acrctl::fuzzing::jwt_claims));
}
