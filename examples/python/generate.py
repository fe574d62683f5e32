#!/usr/bin/env python3
"""Generates the Python client (messages, stubs and type stubs) from the repository's protos.

    python generate.py OUT_DIR [--proto-dir DIR]

Runs grpcio-tools' bundled protoc (`python -m grpc_tools.protoc`, which also knows the
well-known types such as google/protobuf/timestamp.proto), so no protoc install is needed.
OUT_DIR is replaced as a whole: the code is generated next to it and renamed into place, so
a failed run leaves the previous client intact. Put OUT_DIR on PYTHONPATH and import
`northstar.jira.v1.event_pb2`, `northstar.jira.v1.event_pb2_grpc` and so on. The generated
code is never committed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="directory to (re)create with the generated client")
    parser.add_argument(
        "--proto-dir",
        type=Path,
        default=REPO_ROOT / "proto",
        help="root of the proto tree (default: the repository's proto/)",
    )
    args = parser.parse_args()

    proto_dir: Path = args.proto_dir.resolve()
    protos = sorted(p.relative_to(proto_dir).as_posix() for p in proto_dir.rglob("*.proto"))
    if not protos:
        print(f"generate.py: no .proto files under {proto_dir}", file=sys.stderr)
        return 1

    out_dir: Path = args.out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"--python_out={staging}",
            f"--grpc_python_out={staging}",
            f"--pyi_out={staging}",
            *protos,
        ]
        result = subprocess.run(command, cwd=proto_dir)
        if result.returncode != 0:
            print(f"generate.py: protoc failed (exit {result.returncode})", file=sys.stderr)
            return 1
        # Replace the old client: move it aside, rename the new one in, then delete the old.
        old = None
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
            out_dir.rename(old / out_dir.name)
        staging.rename(out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
