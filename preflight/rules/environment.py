"""ENV: conda environments: the serving package, pinning, and file hygiene.

Every rule reads the environments a document holds (`preflight.project.held_environments`): a
conda file, or a conda mapping inline in a v1 Environment JSON, a v2 environment YAML, an
inference config or a v2 deployment. The serving-package rules (ENV001, ENV003) need to know what
the environment is for, which comes from the project links (or a configured purpose): they never
fire on an environment of unknown purpose, which may be a training environment.
"""
from __future__ import annotations

import os
from typing import Iterator
from urllib.parse import urlsplit

from preflight.conda import (AZUREML_DEFAULTS, INFERENCE_SERVER, OUTSIDE, CondaEnvironment,
                             CondaPackage, PipRequirement, admits_below, conda_admits_below, unpinned_conda_packages,
                             unpinned_pip_requirements, v1_serving, v2_serving)
from preflight.documents import Document, Kind
from preflight.contract import ERROR, INFO, WARNING, Context, Issue, rule
from preflight.project import (V1_SCORING, V2_SCORING, HeldEnvironment, Use, held_environments, pin_policy)

from .wording import clip, near

READS = [Kind.CONDA, Kind.ENVIRONMENT_V1, Kind.ENVIRONMENT_V2, Kind.INFERENCE_V1, Kind.ONLINE_DEPLOYMENT_V2,
         Kind.BATCH_DEPLOYMENT_V2]
_PYPI_HOSTS = {"pypi.org", "pypi.python.org", "files.pythonhosted.org"}
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def _pip_anchor(env: CondaEnvironment) -> str:
    """Where to point when something is missing from the pip section."""
    if env.pip_pointers:
        return env.pip_pointers[-1]
    return env.dependencies_pointer or env.base


def _label(req: PipRequirement) -> str:
    return req.label


def _serving_uses(held: HeldEnvironment, purpose: str):
    return [u for u in held.uses_for(purpose) if not u.exempt]


def _serving_environment(use: Use, doc: Document, version: str) -> str:
    """The environment a finding is about, named by what builds it, as seen from the document."""
    if use.key == "[[environment]]":
        return f"{version} scoring environment (declared {use.purpose} in {near(use.by, doc)})"
    if os.path.abspath(use.by) == doc.abspath:
        return f"{version} scoring environment (`{use.key}`)"
    return f"{version} scoring environment of {near(use.by, doc)}"


# ----------------------------------------------------------------------------- serving packages

@rule("ENV001", "azureml-defaults-missing", ERROR, reads=READS,
      summary="A v1 scoring environment without `azureml-defaults` among its pip dependencies")
def azureml_defaults_missing(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks every conda environment that serves an Azure ML v1 web service (the `condaFile` or
    inline `environment` of an inference config, or a file configured with
    `purpose = "v1-scoring"`) for `azureml-defaults` in its `pip:` section or in a `-r` file
    it includes. Names are compared after normalisation (`AzureML_Defaults` counts).
    Environments of unknown purpose are not checked: they may be training environments.

    ## Why it matters
    "You must add azureml-defaults with version >= 1.0.45 as a pip dependency. This package
    contains the functionality needed to host the model as a web service" (Azure ML v1 docs).
    The SDK only logs a warning; the container then fails to start after a long image build.
    When a `-r` file cannot be read, the finding is a warning: preflight cannot tell.

    ## Example
    ```yaml
    # condaFile of inferenceconfig.json
    dependencies:
      - python=3.10.13
      - pip=23.3.1
      - pip:
          - scikit-learn==1.3.2      # ENV001: no azureml-defaults
    ```

    ## How to fix
    Add `azureml-defaults` (1.0.45 or later, pinned to the version you test with) to the
    `pip:` list. `preflight fix` adds it, pinned from `--pins` when the lock has it.
    """
    for held in held_environments(doc, ctx):
        uses = _serving_uses(held, V1_SCORING)
        if not uses:
            continue
        verdict = v1_serving(held.env)
        what = _serving_environment(uses[0], doc, "v1")
        if verdict.state == "missing":
            yield Issue(_pip_anchor(held.env),
                        f"{what} does not install azureml-defaults: the web service cannot start without it",
                        fix="add `azureml-defaults` (>= 1.0.45, pinned to the tested version) to the `pip:` list",
                        data={"package": AZUREML_DEFAULTS, "purpose": V1_SCORING, "linked_by": uses[0].by})
        elif verdict.state == "unknown":
            unread = ", ".join(f"{i.label} ({i.status})" for i in verdict.unread)
            yield Issue(verdict.unread[0].pointer,
                        f"{what}: azureml-defaults is not in the `pip:` list, and {unread} could not be read "
                        "to tell whether it provides it",
                        fix="list `azureml-defaults` (>= 1.0.45) in the `pip:` list itself",
                        severity=WARNING, data={"package": AZUREML_DEFAULTS, "purpose": V1_SCORING})


@rule("ENV002", "azureml-defaults-too-old", ERROR, reads=READS,
      summary="An `azureml-defaults` specifier that admits a version below 1.0.45")
def azureml_defaults_too_old(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags an `azureml-defaults` requirement whose specifier lets pip install a release older
    than 1.0.45, wherever it is: `==1.0.43`, `~=1.0`, `<2`, `!=1.0.45`, `==1.*`. The check
    probes every real release below 1.0.45 against the specifier (with `packaging`), so `~=`
    and wildcards are judged exactly. Names are normalised (`AzureML_Defaults==1.0.6`
    counts); a bare `azureml-defaults` installs the latest release and is left to ENV005.

    ## Why it matters
    Azure ML v1 documents 1.0.45 as the minimum: older releases predate the web-serving stack
    the scoring container starts (the releases' metadata on PyPI), so the service fails after
    the image is built.

    ## Example
    ```yaml
    - pip:
        - azureml-defaults~=1.0      # ENV002: admits 1.0.43
    ```

    ## How to fix
    For a v1 web service, pin a tested release at or above 1.0.45, e.g.
    `azureml-defaults==1.56.0`. For a v2 online deployment, use
    `azureml-inference-server-http` instead.
    """
    for held in held_environments(doc, ctx):
        v2_only = V2_SCORING in held.purposes() and V1_SCORING not in held.purposes()
        for req, admitted in _old_defaults(held.env):
            if v2_only:
                fix = (f"v2 online deployments are served by `{INFERENCE_SERVER}`: list it (pinned) under `pip:` "
                       "instead of an old azureml-defaults")
            else:
                fix = ("require `azureml-defaults>=1.0.45`, "
                       "or pin a tested release such as `azureml-defaults==<version>`")
            text = _label(req) if isinstance(req, PipRequirement) else f"conda `{req.text.strip()}`"
            yield Issue(req.pointer,
                        f"{text} admits azureml-defaults {admitted}, older than 1.0.45, the minimum for Azure ML "
                        "web services",
                        fix=fix, data={"package": AZUREML_DEFAULTS, "admits": str(admitted)})


def _old_defaults(env: CondaEnvironment):
    from preflight.conda import V1_MINIMUM, V1_PROBES  # built on first use
    for req in env.pip_requirements(AZUREML_DEFAULTS):
        if req.templated:
            continue
        if req.kind == "reference" or req.url:
            if req.version is not None and req.version < V1_MINIMUM:
                yield req, req.version
        elif req.specifier:
            admitted = admits_below(req.specifier, V1_MINIMUM, V1_PROBES)
            if admitted is not None:
                yield req, admitted
    conda_side = env.conda_package(AZUREML_DEFAULTS)
    if conda_side is not None and not conda_side.templated:
        admitted = conda_admits_below(conda_side, V1_MINIMUM, V1_PROBES)
        if admitted is not None:
            yield conda_side, admitted


@rule("ENV003", "inference-server-missing", ERROR, reads=READS,
      summary="A v2 scoring environment without `azureml-inference-server-http` (or `azureml-defaults` >= 1.34)")
def inference_server_missing(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Checks every conda environment a v2 online deployment builds (`environment.conda_file`,
    as a path or inline) for the Azure ML inference server: `azureml-inference-server-http`
    (any version), or `azureml-defaults` limited to 1.34.0 or later (the first release that
    depends on the server). A bare `azureml-defaults` resolves to the latest release, which
    brings the server: that is reported as info only. Skipped for registered or curated
    environments (`azureml:...`), custom containers with `inference_config` routes, no-code
    (MLflow) deployments, batch deployments, and environments of unknown purpose.

    ## Why it matters
    A custom environment without the server fails at deployment with "A required package
    azureml-inference-server-http is missing." after the image has been built.

    ## Example
    ```yaml
    # conda_file of blue-deployment.yml
    dependencies:
      - python=3.11
      - pip
      - pip:
          - scikit-learn==1.5.1      # ENV003: no inference server
    ```

    ## How to fix
    Add `azureml-inference-server-http` to the `pip:` list, pinned to the version you test
    with. `preflight fix` adds it, pinned from `--pins` when the lock has it.
    """
    for held in held_environments(doc, ctx):
        uses = _serving_uses(held, V2_SCORING)
        if not uses:
            continue
        verdict = v2_serving(held.env)
        what = _serving_environment(uses[0], doc, "v2")
        data = {"package": INFERENCE_SERVER, "purpose": V2_SCORING, "linked_by": uses[0].by}
        fix = f"add `{INFERENCE_SERVER}` to the `pip:` list, pinned to the version you test with"
        if verdict.state == "missing":
            yield Issue(_pip_anchor(held.env),
                        f"{what} lacks {INFERENCE_SERVER}: the deployment fails to start",
                        fix=fix, data=data)
        elif verdict.state == "old-defaults" and verdict.requirement is not None:  # it names the requirement
            req = verdict.requirement
            text = _label(req) if isinstance(req, PipRequirement) else f"conda `{req.text.strip()}`"
            yield Issue(req.pointer,
                        f"{what}: {text} admits azureml-defaults {verdict.admitted}, from before the inference "
                        "server (1.34.0)",
                        fix=fix, data={**data, "admits": str(verdict.admitted)})
        elif verdict.state == "unpinned-defaults" and verdict.requirement is not None:
            yield Issue(verdict.requirement.pointer,
                        f"{what} gets {INFERENCE_SERVER} only through an unpinned azureml-defaults",
                        fix=f"list `{INFERENCE_SERVER}` itself, pinned; azureml-defaults is not needed on v2",
                        severity=INFO, data=data)
        elif verdict.state == "unknown":
            unread = ", ".join(f"{i.label} ({i.status})" for i in verdict.unread)
            yield Issue(verdict.unread[0].pointer,
                        f"{what}: {INFERENCE_SERVER} is not in the `pip:` list, and {unread} could not be read to "
                        "tell whether it provides it",
                        fix=f"list `{INFERENCE_SERVER}` in the `pip:` list itself", severity=WARNING, data=data)


@rule("ENV006", "azureml-defaults-conda-package", WARNING, reads=READS,
      summary="`azureml-defaults` listed as a conda package instead of a pip dependency")
def azureml_defaults_conda_package(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags `azureml-defaults` written among the conda dependencies rather than under `pip:`.

    ## Why it matters
    azureml-defaults is published on PyPI and Azure ML documents it as a pip dependency. As a
    conda package the solver looks for it in the listed conda channels, where Azure ML does not
    publish it: the image build fails, or installs a build nobody tested.

    ## Example
    ```yaml
    dependencies:
      - python=3.10.13
      - azureml-defaults=1.56.0     # ENV006
    ```

    ## How to fix
    Move it into the `pip:` list as `azureml-defaults==1.56.0`.
    """
    for held in held_environments(doc, ctx):
        package = held.env.conda_package(AZUREML_DEFAULTS)
        if package is None:
            continue
        if V2_SCORING in held.purposes() and V1_SCORING not in held.purposes():
            fix = f"replace it with `{INFERENCE_SERVER}` in the `pip:` list (v2 deployments need the server)"
        else:
            fix = "move it to the `pip:` list, e.g. `azureml-defaults==<version>` (>= 1.0.45)"
        yield Issue(package.pointer,
                    f"azureml-defaults is listed as a conda package (`{package.text.strip()}`); it is a pip package "
                    "and belongs under `pip:`",
                    fix=fix, data={"package": AZUREML_DEFAULTS})


# ----------------------------------------------------------------------------- pinning

@rule("ENV004", "conda-package-unpinned", WARNING, reads=READS,
      summary="A conda dependency without an exact version")
def conda_package_unpinned(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags each conda dependency not pinned to a version: pinned means `name=X.Y[.Z]`,
    `name=X.Y.Z=build`, `name==X.Y` or the space form `name X.Y.Z build`; a bare name, a
    wildcard (`=3.7.*`), a range (`>=1.2,<2`) or alternatives (`1.1|1.2`) are not. With
    `pin-conda-minor = false`, `name=X.Y` no longer counts either (except `python`). With
    `pinning = "compatible"` (or `--pinning compatible`), a compatible release `~=X.Y[.Z]` and a
    release series `X.Y.*` count as pinned too. Packages listed in `pin-exempt.conda` may float;
    templated versions are left alone.

    ## Why it matters
    Azure ML builds the image from this file: an unpinned package resolves to whatever the
    channel has on the day of the build, so the deployed environment drifts from the one that
    was tested, and a new release can break a deployment that worked yesterday.

    ## Example
    ```yaml
    dependencies:
      - python=3.10.13
      - scikit-learn          # ENV004
      - numpy>=1.24           # ENV004
    ```

    ## How to fix
    Pin the tested version (`scikit-learn=1.3.2`). `conda list --export` in the tested
    environment gives the versions; `preflight fix --pins FILE` applies them.
    """
    for held in held_environments(doc, ctx):
        policy = pin_policy(doc, ctx)
        for package in unpinned_conda_packages(held.env, policy):
            yield Issue(package.pointer, f"conda package '{package.name}' is not pinned: {_conda_how(package)}",
                        fix=f"pin the tested version, e.g. `{package.name}=<version>` (see `conda list --export`)",
                        data={"package": package.name, "specifier": package.version or ""})


def _conda_how(package: CondaPackage) -> str:
    v = package.version
    if not v:
        return "no version is given"
    if "*" in v:
        return f"`{v}` matches a whole series of releases"
    if any(c in v for c in "|,<>!~"):
        return f"`{v}` admits more than one version"
    return f"`={v}` matches every {v}.x release"


@rule("ENV005", "pip-package-unpinned", WARNING, reads=READS,
      summary="A pip dependency without `==`, `===` or a direct reference")
def pip_package_unpinned(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags each requirement in the `pip:` section of a conda environment (and in the `-r` files
    it includes) that is not pinned to one version: pinned means `==X.Y.Z` (no wildcard),
    `===X`, or a direct reference (`name @ https://.../name-1.2.3.whl`, or a VCS URL with a
    full commit hash). A package pinned by a `-c` constraints file counts as pinned; one whose
    marker excludes it for the environment's Python is not installed and not reported. With
    `pinning = "compatible"` (or `--pinning compatible`), for teams that take patch releases on
    purpose, a compatible release `~=X.Y[.Z]` and a release series `==X.Y.*` count as pinned too
    (`==X.*` does not), and `preflight fix` leaves them alone.
    Templated versions such as `=={{latest-pypi-version}}` are left alone; pip options
    (`-r`, `--index-url`) are not requirements; `pin-exempt.pip` lists packages that may float.

    ## Why it matters
    Azure ML builds the scoring image from this file. An unpinned package resolves to whatever
    is newest on the day of the build, so the deployed image differs from the one that was
    trained and tested, and a release of any dependency can break a deployment that worked
    yesterday.

    ## Example
    ```yaml
    dependencies:
      - pip:
          - scikit-learn>=1.0     # ENV005: admits any later version
          - numpy                 # ENV005
    ```

    ## How to fix
    Pin the version you tested: `scikit-learn==1.3.2`. `pip freeze` in the training environment
    gives the exact versions; `preflight fix --pins requirements.lock` applies them.
    """
    for held in held_environments(doc, ctx):
        for req in unpinned_pip_requirements(held.env, pin_policy(doc, ctx)):
            included = req.source is not None  # a line of a `-r` file: only its package is shown
            name = req.name or ("a VCS reference" if included else req.text.strip())
            where = f" ({req.where})" if req.where else ""
            spec = str(req.specifier) if req.specifier else ""
            if req.is_vcs:
                how = "the URL names a branch or tag, not a full commit hash" if req.vcs_revision else \
                    "the URL names no commit or tag"
                fix = "pin the commit: `name @ git+https://...@<40-character commit hash>`"
            else:
                shown = "its specifier" if included else f"`{spec}`"
                how = f"{shown} admits more than one version" if spec else "no version is given"
                fix = f"pin the tested version, e.g. `{name}==<version>` (see `pip freeze`)"
            yield Issue(req.pointer, f"pip package '{clip(name, 70)}'{where} is not pinned: {how}", fix=fix,
                        data={"package": name, "specifier": "" if included else spec})


# ----------------------------------------------------------------------------- file hygiene

@rule("ENV007", "package-version-conflict", WARNING, reads=READS,
      summary="The same package listed twice with conflicting versions")
def package_version_conflict(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags a package listed twice (twice under `pip:`, twice among the conda dependencies, or
    once in each) when the two entries cannot agree on a version: two different exact versions,
    or an exact version the other entry's specifier excludes. Names are normalised; entries
    with different markers and ranges that might overlap are left alone.

    ## Why it matters
    Only one version gets installed: pip's install replaces conda's, and pip rejects two
    conflicting requirements outright, so the environment is not the one the file seems to
    describe, or the image build fails.

    ## Example
    ```yaml
    dependencies:
      - numpy=1.21.2
      - pip:
          - numpy==1.23.5       # ENV007: conda installs 1.21.2, pip replaces it
    ```

    ## How to fix
    Keep one entry, with the version you tested.
    """
    for held in held_environments(doc, ctx):
        entries = [(p.name, p.pointer, f"conda `{p.text.strip()}`", *_conda_version(p)) for p in held.env.conda]
        entries += [(r.name, r.pointer, f"pip {_label(r)}", *_pip_version(r)) for r in held.env.requirements
                    if r.name and not r.marker]
        seen: dict[str, list[tuple]] = {}
        for entry in entries:
            name = entry[0]
            if not name:
                continue
            for earlier in seen.get(name, []):
                if _conflict(earlier, entry):
                    yield Issue(entry[1],
                                f"'{name}' is listed twice with conflicting versions: {earlier[2]} and {entry[2]}",
                                fix="keep one entry, pinned to the version you tested",
                                data={"package": name})
                    break
            seen.setdefault(name, []).append(entry)


def _conda_version(p: CondaPackage):
    """(representative version, specifier alternatives) of a conda entry."""
    from packaging.version import InvalidVersion, Version

    alternatives = p.alternatives()
    v = p.version or ""
    exact = v[2:] if v.startswith("==") else v
    try:
        version = Version(exact) if exact and not any(c in exact for c in "*|,<>!~=") else None
    except InvalidVersion:
        version = None
    return version, alternatives


def _pip_version(r: PipRequirement):
    from packaging.version import InvalidVersion, Version

    version = r.version
    if version is None and r.specifier:
        exact = [s.version for s in r.specifier if s.operator in ("==", "===") and "*" not in s.version]
        try:
            version = Version(exact[0]) if exact else None
        except InvalidVersion:
            version = None
    return version, ([r.specifier] if r.specifier else [])


def _conflict(a: tuple, b: tuple) -> bool:
    _, _, _, va, specs_a = a
    _, _, _, vb, specs_b = b
    if va is None and vb is None:
        return False  # two ranges: they may overlap; no guessing
    if specs_a is None or specs_b is None:
        return False

    def admits(specs, version) -> bool:
        return not specs or any(s.contains(version, prereleases=True) for s in specs)

    if va is not None and admits(specs_b, va):
        return False
    if vb is not None and admits(specs_a, vb):
        return False
    return True


@rule("ENV008", "pip-not-listed", WARNING, reads=READS,
      summary="A `pip:` section without `pip` among the conda dependencies")
def pip_not_listed(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags a `pip:` section in an environment whose conda dependencies do not include `pip`.

    ## Why it matters
    conda then warns that it "may not use the correct pip to install your packages" and adds
    an unpinned `pip` on its own (conda/env/env.py), so the pip that installs your packages is
    whatever the channel has that day.

    ## Example
    ```yaml
    dependencies:
      - python=3.10.13
      - pip:                    # ENV008: no `- pip` above
          - numpy==1.26.4
    ```

    ## How to fix
    Add `- pip=<version>` to the conda dependencies, before the `pip:` section.
    """
    for held in held_environments(doc, ctx):
        env = held.env
        if not env.pip_pointers or env.conda_package("pip") is not None or not env.pip:
            continue
        pointer = env.pip_pointers[0].rsplit("/", 1)[0]
        yield Issue(pointer, "a `pip:` section, but `pip` is not among the conda dependencies: conda adds an "
                    "unpinned one itself", fix="add `- pip=<version>` to the dependencies, before `- pip:`",
                    data={"package": "pip"})


@rule("ENV009", "invalid-dependency", ERROR, reads=READS,
      summary="A dependency entry that is not a package (a number, an empty item, a stray mapping)")
def invalid_dependency(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags entries of `dependencies` that are neither a MatchSpec string nor a `pip:` mapping
    (an unquoted `- 3.8` is a number, `-` alone is empty), a `pip:` that is not a list, pip
    lines that are not strings, pip lines pip cannot parse (`numpy=1.23.5`, a conda spec
    under `pip:`), and `-r`/`-c` lines that name a file outside the repository (the nearest
    folder above with a `.git`, else the scanned folder): such a file is never opened, and no
    line of an included file is ever quoted, only the package it names.

    ## Why it matters
    conda cannot read such an entry: the image build stops with a parser error, or the entry is
    silently dropped, after the file was uploaded.

    ## Example
    ```yaml
    dependencies:
      - python
      - 3.8                     # ENV009: a number, not `python=3.8`
    ```

    ## How to fix
    Write each dependency as a string MatchSpec (`python=3.8`); keep pip requirements in the
    single `pip:` list. Keep included requirement files inside the repository.
    """
    for held in held_environments(doc, ctx):
        for include in held.env.includes:
            if include.status == OUTSIDE:
                yield Issue(include.pointer, f"{include.label} names a file outside the repository: it is not read",
                            fix="keep requirement files inside the repository and name them by a relative path",
                            severity=WARNING, data={"status": include.status})
        for req in held.env.requirements:
            if req.unparsable:
                conda_style = "=" in req.text and "==" not in req.text
                text = req.text.strip() if req.source is None else None  # never a line of an included file
                yield Issue(req.pointer, f"pip cannot parse {req.label if text is None else f'`{text}`'}"
                            + (": a conda spec under `pip:`" if conda_style else ""),
                            fix="write a PEP 508 requirement, e.g. `numpy==1.23.5`",
                            data={"value": text} if text is not None else {})
        for pointer, value, what in held.env.bad_items:
            shown = "null" if value is None else repr(value) if isinstance(value, str) else _short(value)
            hint = " (an unquoted version? write `python=3.8`)" if isinstance(value, (int, float)) else ""
            yield Issue(pointer, f"invalid dependency {shown}: {what}{hint}",
                        fix="write each dependency as a string such as `numpy=1.26.4`, pip ones under `pip:`",
                        data={"value": _short(value)})


def _short(value) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


@rule("ENV010", "insecure-package-source", WARNING, reads=READS,
      summary="A package index, channel or download over plain `http://`")
def insecure_package_source(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags pip options (`--index-url`, `--extra-index-url`, `--find-links`), requirement URLs
    and conda channels that use plain `http://` (loopback hosts excepted), and
    `--trusted-host`, which turns off certificate checks for a host.

    ## Why it matters
    Anyone on the network path between the image build and the index can swap the packages
    the scoring image installs: a supply-chain risk that no pin protects against.

    ## Example
    ```yaml
    - pip:
        - --extra-index-url http://pkgs.example.com/simple    # ENV010
    ```

    ## How to fix
    Use the `https://` address of the index (with a valid certificate), and drop
    `--trusted-host`.
    """
    for held in held_environments(doc, ctx):
        env = held.env
        for option in env.options:
            shown = _option_label(option)
            data = {"url": option.value or ""} if option.source is None else {}
            if option.option == "--trusted-host":
                yield Issue(option.pointer, f"{shown} turns off certificate checks for that host",
                            fix="remove it and serve the index over HTTPS", data=data)
            elif option.option in ("--index-url", "--extra-index-url", "--find-links") and _plain_http(option.value):
                yield Issue(option.pointer, f"{shown} fetches packages over plain HTTP: anyone on the network path "
                            "can swap them", fix="use the https:// address", data=data)
        for req in env.requirements:
            if _plain_http(req.url):
                yield Issue(req.pointer, f"{_label(req)} downloads over plain HTTP: anyone on the network path can "
                            "swap it", fix="use the https:// address",
                            data={"url": req.url} if req.source is None else {})
        for index, channel in enumerate(env.channels):
            if _plain_http(channel):
                yield Issue(f"{env.channels_pointer}/{index}", f"conda channel `{channel}` is read over plain HTTP",
                            fix="use the https:// address", data={"url": channel})


def _option_label(option: PipRequirement) -> str:
    """`--index-url http://host/simple` as written in the scanned file; from an included file
    only the option and where it is (an index URL may carry credentials)."""
    if option.source is None:
        return f"`{option.option} {option.value}`" if option.value else f"`{option.option}`"
    return option.label


def _plain_http(url: str | None) -> bool:
    if not url or not url.lower().startswith("http://"):
        return False
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return True
    return host not in _LOOPBACK


@rule("ENV011", "pip-section-repeated", WARNING, reads=READS,
      summary="More than one `pip:` section: conda installs only the last")
def pip_section_repeated(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags every `pip:` mapping of `dependencies` but the last, when there are several.

    ## Why it matters
    conda reads the dependencies into a dictionary keyed by installer
    (`Dependencies.parse` in conda/env/env.py): each `pip:` mapping replaces the one before,
    so only the last list is installed and the others are silently dropped.

    ## Example
    ```yaml
    dependencies:
      - pip:
          - azureml-defaults==1.56.0     # ENV011: never installed
      - numpy=1.26.4
      - pip:
          - scikit-learn==1.3.2
    ```

    ## How to fix
    Merge the lists into one `pip:` section.
    """
    for held in held_environments(doc, ctx):
        pointers = held.env.pip_pointers
        if len(pointers) < 2:
            continue
        last_line = doc.locate(pointers[-1])[0]
        for section, pointer in enumerate(pointers[:-1]):
            dropped = sorted({r.name for r in held.env.requirements if r.section == section and r.name})
            names = f" ({', '.join(dropped[:5])}{', ...' if len(dropped) > 5 else ''})" if dropped else ""
            yield Issue(pointer.rsplit("/", 1)[0],
                        f"this `pip:` section{names} is dropped: conda installs only the last `pip:` section "
                        f"(line {last_line})", fix="merge the `pip:` sections into one",
                        data={"packages": dropped})


@rule("ENV012", "extra-index-url", INFO, reads=READS,
      summary="`--extra-index-url` to a private index: a dependency-confusion risk")
def extra_index_url(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Notes each `--extra-index-url` that points somewhere other than PyPI.

    ## Why it matters
    pip merges the candidates of every index and installs the highest version, so a package
    published on PyPI under the name of one of your private packages wins over yours
    (dependency confusion).

    ## Example
    ```yaml
    - pip:
        - --extra-index-url https://pkgs.example.com/simple   # ENV012
        - internal-features==2.1.0
    ```

    ## How to fix
    Pin the private packages exactly (ideally with hashes), or use a single `--index-url` that
    proxies PyPI and your private packages.
    """
    for held in held_environments(doc, ctx):
        for option in held.env.options:
            if option.option != "--extra-index-url" or not option.value:
                continue
            try:
                host = (urlsplit(option.value).hostname or "").lower()
            except ValueError:
                host = ""
            if host in _PYPI_HOSTS or host in _LOOPBACK:
                continue
            yield Issue(option.pointer, f"{clip(_option_label(option), 90)}: pip may install a same-named package "
                        "from PyPI instead of the private one",
                        fix="pin private packages exactly, or use one `--index-url` that proxies PyPI",
                        data={"url": option.value} if option.source is None else {})
