// SPDX-License-Identifier: MIT
//! `status --format prometheus --output FILE` checked with the Prometheus text-format parser
//! of the `prometheus_client` package (pip install prometheus_client), not by string matching.

use std::fs;
use std::path::Path;
use std::process::Command;

fn write(root: &Path, relative: &str, contents: &str) {
    let path = root.join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ttm-autosize"))
}

#[test]
fn metrics_parse_with_a_real_parser_and_carry_the_values() {
    let root = std::env::temp_dir().join(format!("ttm-autosize-prom-{}", std::process::id()));
    let _ = fs::remove_dir_all(&root);
    let kernel = "6.12.48+deb13-amd64";
    write(&root, "proc/meminfo", "MemTotal:       134217728 kB\n");
    write(&root, "proc/cmdline", "quiet\n");
    write(&root, "proc/sys/kernel/osrelease", &format!("{kernel}\n"));
    write(
        &root,
        &format!("lib/modules/{kernel}/modules.dep"),
        "kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko.xz: kernel/drivers/gpu/drm/ttm/ttm.ko.xz\n",
    );
    write(
        &root,
        "etc/ttm-autosize.toml",
        "gpu = \"85%\"\nreserve = \"16GiB\"\npage_pool = \"match\"\n",
    );
    write(&root, "dev/kmsg", "");
    write(&root, "sys/bus/pci/devices/0000:c5:00.0/vendor", "0x1002\n");
    write(
        &root,
        "sys/bus/pci/devices/0000:c5:00.0/class",
        "0x038000\n",
    );
    let status = binary()
        .arg("apply")
        .env("TTM_AUTOSIZE_ROOT", &root)
        .status()
        .unwrap();
    assert!(status.success());
    // The kernel took pages_limit but a static file (say) changed page_pool_size.
    let pages = 28_521_216u64;
    write(
        &root,
        "sys/module/ttm/parameters/pages_limit",
        &format!("{pages}\n"),
    );
    write(
        &root,
        "sys/module/ttm/parameters/page_pool_size",
        "16777216\n",
    );
    write(
        &root,
        "etc/modprobe.d/zzz-tuning.conf",
        "options ttm page_pool_size=16777216\n",
    );
    write(
        &root,
        "sys/class/drm/card1/device/mem_info_gtt_total",
        &format!("{}\n", pages * 4096),
    );
    write(
        &root,
        "sys/class/drm/card1/device/mem_info_vram_total",
        "536870912\n",
    );
    write(&root, "sys/class/drm/card1-eDP-1/status", "connected\n");

    // --output is resolved under the root prefix, into a directory that must exist. Under
    // /proc: were it ever resolved outside the root, nothing could be created there.
    fs::create_dir_all(root.join("proc/textfile")).unwrap();
    let out = root.join("proc/textfile/ttm-autosize.prom");
    let run = binary()
        .args(["status", "--format", "prometheus", "--output"])
        .arg("/proc/textfile/ttm-autosize.prom")
        .env("TTM_AUTOSIZE_ROOT", &root)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "a mismatch makes status exit 1");
    assert!(
        run.stdout.is_empty(),
        "--output writes the file, not stdout"
    );
    let leftovers: Vec<_> = fs::read_dir(root.join("proc/textfile"))
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
        "ttm_autosize_mem_total_bytes": 137438953472.0,
        "ttm_autosize_decided_pages_limit_bytes{module=ttm}": bytes,
        "ttm_autosize_decided_page_pool_size_bytes{module=ttm}": bytes,
        "ttm_autosize_kernel_pages_limit_bytes{module=ttm}": bytes,
        "ttm_autosize_kernel_page_pool_size_bytes{module=ttm}": 16777216.0 * 4096.0,
        "ttm_autosize_amdgpu_gtt_total_bytes{card=card1}": bytes,
        "ttm_autosize_amdgpu_vram_total_bytes{card=card1}": 536870912.0,
        "ttm_autosize_healthy": 0.0,
    });
    for cause in ttm_autosize::render::CauseKind::ALL.map(|c| c.name()) {
        let value = if cause == "static_modprobe_file" {
            1.0
        } else {
            0.0
        };
        expected[format!("ttm_autosize_mismatch{{cause={cause}}}")] = value.into();
    }
    let check = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/prometheus_check.py"))
        .arg(&out)
        .arg(expected.to_string())
        .output()
        .expect("python3 is needed for this test (apt-get install python3)");
    assert!(
        check.status.success(),
        "prometheus_client rejected or disagreed with the metrics:\n{}{}\n--- metrics:\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr),
        fs::read_to_string(&out).unwrap()
    );
    fs::remove_dir_all(&root).unwrap();
}
