//! The run request: never panics; an accepted request has a lookback in range
//! and a window that ends at as_of.
#![no_main]

use author_stats_batch::request::{LOOKBACK_RANGE, RunRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(request) = RunRequest::from_json(text) else { return };
    let now = chrono::DateTime::from_timestamp(1_764_092_700, 0).expect("a valid instant");
    if let Ok(plan) = request.resolve(now) {
        assert!(LOOKBACK_RANGE.contains(&plan.lookback_days));
        assert!(plan.window_start() < plan.as_of);
    }
});
