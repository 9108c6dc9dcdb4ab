"""Fetch the dashboard's front-end library from the npm registry at build time (``make assets``).

The page never loads anything from a CDN: chart.js is downloaded once from the registry as the package
tarball, checked against its pinned sha512 integrity (the value npm's lock files record), and its built
file is copied into ``static/vendor/`` (git-ignored). Standard library only, so a machine needs neither
node nor npm.

    python -m triage.api.assets [--force]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VENDOR = Path(__file__).parent / "static" / "vendor"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class NpmAsset:
    package: str
    version: str
    integrity: str  # "sha512-<base64>"
    files: dict[str, str]  # path inside the tarball -> name in static/vendor

    @property
    def url(self) -> str:
        return f"{REGISTRY}/{self.package}/-/{self.package.split('/')[-1]}-{self.version}.tgz"

    @property
    def marker(self) -> Path:
        return VENDOR / f"{self.package}-{self.version}.txt"


CHART_JS = NpmAsset(
    package="chart.js",
    version="4.6.1",
    integrity="sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==",
    files={"package/dist/chart.umd.min.js": "chart.umd.min.js", "package/LICENSE.md": "chart.js-LICENSE.md"},
)
ASSETS = (CHART_JS,)


def fetch(asset: NpmAsset, *, timeout: float = 120.0) -> None:
    with urllib.request.urlopen(asset.url, timeout=timeout) as response:
        data = response.read()
    got = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if got != asset.integrity:
        raise SystemExit(f"assets: {asset.package} {asset.version} integrity mismatch; refusing to install it")
    VENDOR.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for inner, name in asset.files.items():
            member = archive.extractfile(inner)
            if member is None:
                raise SystemExit(f"assets: {inner} missing from {asset.url}")
            (VENDOR / name).write_bytes(member.read())
    asset.marker.write_text(f"{asset.package} {asset.version} from the npm registry\n{asset.integrity}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fetch the dashboard's vendored front-end libraries.")
    parser.add_argument("--force", action="store_true", help="download even if already present")
    args = parser.parse_args(argv)
    for asset in ASSETS:
        if asset.marker.exists() and not args.force:
            continue
        try:
            fetch(asset)
        except OSError as exc:
            print(f"assets: could not download {asset.url}: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        print(f"assets: {asset.package} {asset.version} -> {VENDOR}")


if __name__ == "__main__":
    main()
