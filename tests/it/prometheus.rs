// SPDX-License-Identifier: MIT
//! `status --format prometheus --output FILE` checked with the Prometheus text-format parser
//! of the `prometheus_client` package (pip install prometheus_client), not by string matching.

use std::fs;

use crate::util::{Fixture, python3};

#[test]
fn metrics_parse_with_a_real_parser_and_carry_the_values() {
    let f = Fixture::standard("prometheus");
    f.policy("gpu = \"85%\"\nreserve = \"16GiB\"\npage_pool = \"match\"\n");
    // The kernel's clock as apply reads it: boot time plus uptime.
    f.write("proc/stat", "cpu  1 2 3 4\nbtime 1790000000\nprocesses 9\n");
    f.write("proc/uptime", "12.97 20.01\n");
    let apply = f.run(&["apply"]).unwrap();
    assert_eq!(apply.code, Some(0), "{apply:?}");
    // The kernel took pages_limit but a static file (say) changed page_pool_size.
    let pages = 28_521_216u64;
    f.write(
        "sys/module/ttm/parameters/pages_limit",
        format!("{pages}\n"),
    );
    f.write("sys/module/ttm/parameters/page_pool_size", "16777216\n");
    f.write(
        "etc/modprobe.d/zzz-tuning.conf",
        "options ttm page_pool_size=16777216\n",
    );
    f.write(
        "sys/class/drm/card1/device/mem_info_gtt_total",
        format!("{}\n", pages * 4096),
    );
    f.write(
        "sys/class/drm/card1/device/mem_info_vram_total",
        "536870912\n",
    );
    f.write("sys/class/drm/card1-eDP-1/status", "connected\n");

    // --output is resolved under the root prefix, into a directory that must exist. Under
    // /proc: were it ever resolved outside the root, nothing could be created there.
    f.mkdir("proc/textfile");
    let out = f.path("proc/textfile/ttm-autosize.prom");
    let run = f
        .run(&[
            "status",
            "--format",
            "prometheus",
            "--output",
            "/proc/textfile/ttm-autosize.prom",
        ])
        .unwrap();
    assert_eq!(run.code, Some(1), "a mismatch makes status exit 1: {run:?}");
    assert!(
        run.stdout.is_empty(),
        "--output writes the file, not stdout"
    );
    let leftovers: Vec<_> = fs::read_dir(f.path("proc/textfile"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["ttm-autosize.prom"],
        "no temp file left next to the metrics"
    );

    let bytes = (pages * 4096) as f64;
    let mut expected = serde_json::json!({
        "ttm_autosize_decision_info{module=ttm,policy=/etc/ttm-autosize.toml,rule=gpu 85%,stage=host}": 1.0,
        "ttm_autosize_decision_timestamp_seconds": 1790000012.0,
        "ttm_autosize_mem_total_bytes": 137438953472.0,
        "ttm_autosize_decided_pages_limit_bytes{module=ttm}": bytes,
        "ttm_autosize_decided_page_pool_size_bytes{module=ttm}": bytes,
        "ttm_autosize_kernel_pages_limit_bytes{module=ttm}": bytes,
        "ttm_autosize_kernel_page_pool_size_bytes{module=ttm}": 16777216.0 * 4096.0,
        "ttm_autosize_amdgpu_gtt_total_bytes{card=card1}": bytes,
        "ttm_autosize_amdgpu_vram_total_bytes{card=card1}": 536870912.0,
        "ttm_autosize_healthy": 0.0,
    });
    expected[format!(
        "ttm_autosize_build_info{{version={}}}",
        env!("CARGO_PKG_VERSION")
    )] = 1.0.into();
    for cause in ttm_autosize::render::CauseKind::ALL.map(|c| c.name()) {
        let value = if cause == "static_modprobe_file" {
            1.0
        } else {
            0.0
        };
        expected[format!("ttm_autosize_mismatch{{cause={cause}}}")] = value.into();
    }
    let check = python3(
        "tests/prometheus_check.py",
        &[out.as_os_str(), expected.to_string().as_ref()],
    );
    assert!(
        check.status.success(),
        "prometheus_client rejected or disagreed with the metrics:\n{}{}\n--- metrics:\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr),
        fs::read_to_string(&out).unwrap()
    );
}
