"""docker-compose.yml, docker/*/Dockerfile, .env.example and terraform/ agree with the settings and the local stack.

No Docker engine and no Terraform providers here: these files are parsed as text and checked for what breaks a
deployment silently (a renamed variable, a moved port, a COPY of a file that no longer exists, a new import the
serving image does not install).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from packaging.requirements import Requirement

from machine_learning.settings import _ENV_NAMES, Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
IMAGES = ("mage", "mlflow", "evidently", "serving")

# Variables the containers read that are not Settings fields: credentials, database parts, server options.
SERVER_SIDE = {
    "AWS_ACCESS_KEY_ID": "boto3 / s3fs credentials (IAM roles on AWS)",
    "AWS_SECRET_ACCESS_KEY": "boto3 / s3fs credentials",
    "AWS_DEFAULT_REGION": "boto3 region",
    "DB_HOST": "docker/entrypoint.py builds the database URL from DB_*",
    "DB_PORT": "",
    "DB_USER": "",
    "DB_PASSWORD": "",
    "DB_NAME": "",
    "DB_SSLMODE": "",
    "JWT_SECRET": "Mage session signing key",
    "REQUIRE_USER_AUTHENTICATION": "Mage login on",
    "OPERATOR_HOST": "machine_learning/operator/app.py main(): where uvicorn listens",
    "OPERATOR_PORT": "",
    "MAGE_ECS_EXECUTOR_CPU": "docker/mage/ecs_config.yaml",
    "MAGE_ECS_EXECUTOR_MEMORY": "",
    "MAGE_ECS_EXECUTOR_TIMEOUT": "",
    "SERVING_HOST": "machine_learning/serving/app.py (0.0.0.0 in the container)",
    "SERVING_PORT": "machine_learning/serving/app.py",
    "MLFLOW_S3_ENDPOINT_URL": "MLflow server's S3 endpoint (scripts/stack.py sets it too)",
    "MLFLOW_ARTIFACTS_DESTINATION": "mlflow server --artifacts-destination",
    "EVIDENTLY_SECRET": "Evidently UI write token",
    "EVIDENTLY_ALLOWED_HOSTS": "Host names the Evidently UI serves (scripts/evidently_ui.py)",
    "MLFLOW_TRACKING_USERNAME": "MLflow client login (read by the mlflow client itself)",
    "MLFLOW_TRACKING_PASSWORD": "",
    "MLFLOW_ADMIN_PASSWORD": "MLflow users (docker/mlflow_auth.py)",
    "MLFLOW_TRAINER_PASSWORD": "",
    "MLFLOW_READER_PASSWORD": "",
    "MLFLOW_FLASK_SERVER_SECRET_KEY": "MLflow basic-auth app",
    "MLFLOW_TRUSTED_HOSTS": "Host names MLflow serves (scripts/mlflow_gunicorn.conf.py)",
    "POSTGRES_USER": "postgres image",
    "POSTGRES_PASSWORD": "postgres image",
}
KNOWN = set(_ENV_NAMES.values()) | set(SERVER_SIDE)
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "ACCESS_KEY")


def _load_stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stack_under_test", ROOT / "scripts" / "stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def stack_ports() -> dict[str, int]:
    """Default ports of scripts/stack.py's components (the Evidently UI's also from the settings' default URL)."""
    stack = _load_stack()
    with pytest.MonkeyPatch.context() as patch:
        for variable in (
            "S3_PORT",
            "MLFLOW_PORT",
            "MAGE_PORT",
            "SERVING_PORT",
            "EVIDENTLY_PORT",
            "OPERATOR_PORT",
            "S3_BUCKET",
        ):
            patch.delenv(variable, raising=False)
        state = Path("/nonexistent")
        components = stack.build_components(state, stack.initial_env(state))
    ports = {name: component.port for name, component in components.items()}
    ports.setdefault("evidently", int(Settings().evidently_url.rsplit(":", 1)[1]))
    return ports


def _dockerfile(image: str) -> str:
    return (ROOT / "docker" / image / "Dockerfile").read_text()


def _instructions(text: str) -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [
        (keyword.upper(), rest.strip())
        for keyword, _, rest in (line.strip().partition(" ") for line in joined.splitlines() if line.strip())
    ]


def test_compose_variables_are_settings_or_documented_server_side(compose: dict) -> None:
    for name, service in compose["services"].items():
        unknown = set(service.get("environment", {})) - KNOWN
        assert not unknown, f"{name} sets {unknown}: not read by Settings (_ENV_NAMES) nor listed in SERVER_SIDE"


def test_app_containers_get_every_setting_they_need(compose: dict) -> None:
    for name in ("mage", "serving"):
        environment = compose["services"][name]["environment"]
        for variable in ("GAME_TITLE", "S3_BUCKET", "AWS_ENDPOINT_URL", "MLFLOW_TRACKING_URI", "MODEL_CACHE_DIR"):
            assert variable in environment, f"{name} lacks {variable}"
    assert "SERVING_TOKEN" in compose["services"]["serving"]["environment"]


def test_compose_ports_match_the_local_stack(compose: dict, stack_ports: dict[str, int]) -> None:
    for name, port in stack_ports.items():
        published = compose["services"][name]["ports"]
        assert f"127.0.0.1:{port}:{port}" in published, f"{name} should publish {port} on loopback only"
    for service in compose["services"].values():
        assert all(str(mapping).startswith("127.0.0.1:") for mapping in service.get("ports", []))


def test_compose_images_are_pinned_and_builds_exist(compose: dict) -> None:
    for name, service in compose["services"].items():
        if "image" in service:
            image, _, tag = service["image"].partition(":")
            assert tag and tag != "latest" and any(c.isdigit() for c in tag), f"{name}: pin {image} to a version"
        else:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def test_env_example_covers_compose_and_holds_no_secret(compose: dict) -> None:
    referenced = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    example = dict(
        line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#")
    )
    assert referenced <= set(example), f"missing in .env.example: {referenced - set(example)}"
    assert set(example) <= KNOWN
    for key, value in example.items():
        if any(word in key for word in SECRET_WORDS):
            assert value == "change-me", f"{key} in .env.example must be the change-me placeholder"


@pytest.mark.parametrize("image", IMAGES)
def test_dockerfile_copies_existing_files_and_runs_as_non_root(image: str) -> None:
    instructions = _instructions(_dockerfile(image))
    keywords = [keyword for keyword, _ in instructions]
    assert keywords[0] == "FROM" and re.search(r":\d+\.\d+\.\d+-", instructions[0][1]), "pin the base image"
    for keyword, arguments in instructions:
        if keyword in ("COPY", "ADD"):
            assert keyword == "COPY", "use COPY, not ADD"
            *sources, _ = [part for part in arguments.split() if not part.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"docker/{image}/Dockerfile copies missing {source}"
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root user"
    assert "HEALTHCHECK" in keywords


@pytest.mark.parametrize("image", IMAGES)
def test_dockerfile_port_and_health_probe_match_the_stack(image: str, stack_ports: dict[str, int]) -> None:
    text = _dockerfile(image)
    port = stack_ports[image]
    assert re.search(rf"^EXPOSE {port}$", text, re.MULTILINE)
    assert f"http://127.0.0.1:{port}/" in text, "the health probe must use the exposed port"
    assert f"--port {port}" in text or f'"--port", "{port}"' in text or f"SERVING_PORT={port}" in text


def test_mage_image_is_patched_and_uses_the_app_lock() -> None:
    text = _dockerfile("mage")
    assert "scripts/patch_mage.py" in text and "requirements/app.lock" in text
    assert '"mage", "start", "mage_project"' in text


def test_lockless_installs_are_constrained_by_a_lock() -> None:
    for image in IMAGES:
        for keyword, arguments in _instructions(_dockerfile(image)):
            if keyword == "RUN" and "pip install" in arguments and "pip==" not in arguments.split("&&")[0]:
                for command in arguments.split("&&"):
                    if "pip install" in command and "--no-deps" not in command:
                        assert ".lock" in command, f"docker/{image}: `{command.strip()}` is not locked"


def _requirement_closure(names: list[str]) -> set[str]:
    """Distributions installed by ``pip install names`` in this (app) venv, following their requirements."""
    seen: set[str] = set()
    todo = [name.lower().replace("_", "-") for name in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name.lower().replace("_", "-"))
    return seen


def test_serving_image_installs_what_serving_imports() -> None:
    # Third-party modules imported by the machine_learning modules that the serving entry point loads.
    probe = (
        "import sys, machine_learning.serving.__main__, machine_learning.serving.provider\n"
        "print('\\n'.join(m.__file__ for n, m in sys.modules.items()"
        " if n.startswith('machine_learning') and getattr(m, '__file__', None)))"
    )
    files = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    imported = set()
    for file in files:
        for match in re.finditer(r"^\s*(?:from|import) ([a-zA-Z_][\w]*)", Path(file).read_text(), re.MULTILINE):
            imported.add(match.group(1))
    third_party = {name for name in imported if name not in sys.stdlib_module_names and name != "machine_learning"}
    providers = importlib.metadata.packages_distributions()
    needed = {dist.lower().replace("_", "-") for name in third_party for dist in providers.get(name, [name])}
    assert {"fastapi", "mlflow"} <= needed, "the import probe found too little"
    run = next(args for keyword, args in _instructions(_dockerfile("serving")) if "app.lock" in args and "pip" in args)
    listed = [word for word in run.split("&&")[-1].split() if re.fullmatch(r"[a-z][a-z0-9_-]+", word)]
    installed = _requirement_closure([name for name in listed if name not in ("python", "pip", "install")])
    assert needed <= installed, f"docker/serving/Dockerfile does not install {needed - installed}"


def test_terraform_ports_match_the_stack(stack_ports: dict[str, int]) -> None:
    locals_tf = (ROOT / "terraform" / "locals.tf").read_text()
    for name in IMAGES:
        block = re.search(rf"^\s+{name} = \{{(.*?)^\s+\}}", locals_tf, re.MULTILINE | re.DOTALL)
        assert block, f"terraform/locals.tf has no service {name}"
        assert re.search(rf"port\s+=\s+{stack_ports[name]}\b", block.group(1)), f"{name} port differs"


def test_terraform_task_variables_are_known() -> None:
    ecs_tf = (ROOT / "terraform" / "ecs.tf").read_text()
    names = set(re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s+=", ecs_tf, re.MULTILINE))
    assert names, "no environment variables found in terraform/ecs.tf"
    assert names <= KNOWN, f"terraform/ecs.tf sets unknown variables {names - KNOWN}"
