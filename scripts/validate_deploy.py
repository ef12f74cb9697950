#!/usr/bin/env python3
"""Offline checks of terraform/ and docker/ for `make lint` (run with the checkov venv's interpreter).

Usage: .local/venv-checkov/bin/python scripts/validate_deploy.py

1. `terraform fmt -check -recursive terraform`, when a terraform binary is on PATH (skipped otherwise, said so).
2. Parses every .tf, .tfvars and .hcl file (hcl2, shipped with checkov) and checks that every variable has a
   description, every `var.x` used is declared, and every key of env/*.tfvars is a declared variable.
3. checkov on terraform/ and the Dockerfiles: any failed check fails this script. Skips must be written inline
   as `#checkov:skip=CKV_...:<reason>` next to the resource, and carry a reason.

What cannot run here (no provider downloads): `terraform init`, `validate` and `plan`; see README, Deploy to AWS.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
DOCKER = ROOT / "docker"
SKIP_PATTERN = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z0-9_]+)(:?)(.*)")


def check_format() -> list[str]:
    binary = shutil.which("terraform")
    if binary is None:
        print("  terraform fmt: skipped (no terraform binary on PATH)")
        return []
    result = subprocess.run(
        [binary, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)], capture_output=True, text=True
    )
    print(f"  terraform fmt: {'ok' if result.returncode == 0 else 'files need `terraform fmt -recursive terraform`'}")
    return [] if result.returncode == 0 else [f"terraform fmt:\n{result.stdout}{result.stderr}"]


def parse_all() -> tuple[dict[Path, dict], list[str]]:
    import hcl2  # shipped with checkov (bc-python-hcl2)

    parsed: dict[Path, dict] = {}
    errors: list[str] = []
    paths = sorted([*TERRAFORM.rglob("*.tf"), *TERRAFORM.rglob("*.tfvars"), *TERRAFORM.rglob("*.hcl")])
    for path in paths:
        if ".terraform" in path.parts:
            continue
        try:
            with open(path) as handle:
                parsed[path] = hcl2.load(handle)
        except Exception as error:  # noqa: BLE001 - report every unparsable file, then fail
            errors.append(f"{path.relative_to(ROOT)}: does not parse: {error}")
    print(f"  HCL parse: {len(parsed)} of {len(paths)} files")
    return parsed, errors


def check_variables(parsed: dict[Path, dict]) -> list[str]:
    errors: list[str] = []
    declared: set[str] = set()
    for path, content in parsed.items():
        for block in content.get("variable", []):
            for name, body in block.items():
                declared.add(name)
                if not str(body.get("description", "")).strip():
                    errors.append(f"{path.relative_to(ROOT)}: variable {name} has no description")
    used: set[str] = set()
    for path in TERRAFORM.glob("*.tf"):
        used |= set(re.findall(r"\bvar\.([a-zA-Z_][a-zA-Z0-9_]*)", path.read_text()))
    errors += [f"var.{name} is used but not declared" for name in sorted(used - declared)]
    errors += [f"variable {name} is declared but never used" for name in sorted(declared - used)]
    for path, content in parsed.items():
        if path.suffix == ".tfvars":
            errors += [f"{path.relative_to(ROOT)}: {key} is not a variable" for key in sorted(set(content) - declared)]
    print(f"  variables: {len(declared)} declared, all described and used" if not errors else "  variables: errors")
    return errors


def check_skips() -> list[str]:
    errors: list[str] = []
    count = 0
    for path in [*TERRAFORM.rglob("*.tf"), *DOCKER.rglob("Dockerfile")]:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for match in SKIP_PATTERN.finditer(line):
                count += 1
                if not match.group(2) or len(match.group(3).strip()) < 15:
                    errors.append(f"{path.relative_to(ROOT)}:{number}: {match.group(1)} skipped without a reason")
    print(f"  checkov skips: {count}, each with a reason" if not errors else "  checkov skips: reasons missing")
    return errors


def run_checkov() -> list[str]:
    checkov = Path(sys.executable).with_name("checkov")
    errors: list[str] = []
    for directory, framework in ((TERRAFORM, "terraform"), (DOCKER, "dockerfile")):
        command = [str(checkov), "-d", str(directory), "--framework", framework, "--skip-download", "--compact"]
        result = subprocess.run([*command, "--quiet"], capture_output=True, text=True, cwd=ROOT)
        summary = re.search(r"Passed checks: (\d+), Failed checks: (\d+), Skipped checks: (\d+)", result.stdout)
        passed, failed, skipped = summary.groups() if summary else ("?", "?", "?")
        print(f"  checkov {framework}: {passed} passed, {failed} failed, {skipped} skipped (with reasons)")
        if result.returncode != 0 or summary is None or failed != "0":
            errors.append(f"checkov {framework}:\n{result.stdout}{result.stderr}")
    return errors


def main() -> int:
    print("deploy-check (offline: terraform/ and docker/)")
    parsed, errors = parse_all()
    errors += check_format() + check_variables(parsed) + check_skips() + run_checkov()
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
