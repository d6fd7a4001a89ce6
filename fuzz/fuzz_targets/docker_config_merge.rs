#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    acrctl::fuzzing::docker_config_merge(data);
});
