"""Paths and fixture tables shared by the ingest tests."""

from __future__ import annotations

from pathlib import Path

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
LOGHUB = LOGS / "loghub"
HANDWRITTEN = LOGS / "handwritten"
GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden" / "ingest"

#: Loghub system name -> preset name, for the slices in tests/fixtures/logs/loghub.
LOGHUB_SYSTEMS = {
    "HDFS": "hdfs", "Hadoop": "hadoop", "Spark": "spark", "Zookeeper": "zookeeper",
    "BGL": "bgl", "HPC": "hpc", "Linux": "linux", "OpenSSH": "openssh",
}
#: Handwritten fixture -> the preset that wrote it.
HANDWRITTEN_PRESETS = {
    "rfc3164.log": "rfc3164", "rfc3164_pri.log": "rfc3164", "rfc5424.log": "rfc5424",
    "syslog_iso.log": "syslog-iso", "app.jsonl": "json", "log4j.log": "log4j", "logback.log": "logback",
    "spring_boot.log": "spring-boot", "python.log": "python", "python_basic.log": "python-basic",
    "klog.log": "klog", "nginx_error.log": "nginx-error", "thunderbird.log": "thunderbird",
    "windows.log": "windows", "mac.log": "mac", "android.log": "android", "healthapp.log": "healthapp",
    "apache.log": "apache", "openstack.log": "openstack", "proxifier.log": "proxifier",
}
