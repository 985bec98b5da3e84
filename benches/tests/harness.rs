//! The benchmark harness's own unit tests (config generation, verdicts,
//! parsing of wrk output) run with the rest of the suite, so a change that
//! breaks the harness is caught before anyone runs a benchmark.

use std::process::Command;

#[test]
fn harness_unit_tests_pass() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/harness");
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", dir, "-p", "test_*.py"])
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("OK"), "{text}");
}
