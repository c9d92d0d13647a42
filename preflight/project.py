"""Links between documents: which environment serves which deployment, and which script scores it.

    v1 inference config  --condaFile / environment (relative to sourceDirectory)-->  v1 scoring env
                         --entryScript (relative to sourceDirectory)-->              scoring script
    v2 online deployment --environment.conda_file (relative to the YAML)-->          v2 scoring env
                         --code_configuration.code + scoring_script-->               scoring script
    v2 batch deployment  --environment.conda_file-->                                 batch env

An environment nobody links has no known purpose (it may be a training environment), unless the
configuration declares one: `[[environment]] path = "<glob>" purpose = "v1-scoring"`; a declared
purpose replaces the linked ones for the files it matches.

The public functions for rule families are `scoring_script_of(doc, ctx)`,
`environment_links_of(doc, ctx)`, `uses_of(doc, ctx)` and `held_environments(doc, ctx)`; the
project model is built once per scan from the linking documents the engine keeps.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from . import fs
from .contract import Context
from .conda import PINNING, CondaEnvironment, PinPolicy, build_environment
from .documents import Document, Kind
from .searchpath import resolution_bases

V1_SCORING = "v1-scoring"
V2_SCORING = "v2-scoring"
V2_BATCH = "v2-batch"
TRAINING = "training"
PURPOSES = (V1_SCORING, V2_SCORING, TRAINING)  # the ones a configuration may declare

ENVIRONMENT_KINDS = (Kind.CONDA, Kind.ENVIRONMENT_V1, Kind.ENVIRONMENT_V2)
LINKING_KINDS = (Kind.INFERENCE_V1, Kind.ONLINE_DEPLOYMENT_V2, Kind.BATCH_DEPLOYMENT_V2)
_NOT_LOCAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|<)", re.I)  # azureml:, https://, <PLACEHOLDER>


@dataclass(frozen=True)
class Use:
    """One reason an environment exists: a deployment or inference config that builds it."""

    purpose: str  # V1_SCORING | V2_SCORING | V2_BATCH | TRAINING
    by: str  # the linking document as displayed (or the configuration file)
    pointer: str  # where in `by` the link is written ("" for a configuration)
    key: str  # how it is linked: "condaFile", "environment.conda_file", "[[environment]]", ...
    exempt: str | None = None  # why the serving-package check does not apply to this use

    def describe(self) -> str:
        if self.key == "[[environment]]":
            return f"declared {self.purpose} in {self.by}"
        return f"`{self.key}` of {self.by}"


@dataclass(frozen=True)
class Link:
    """A path one document names: a conda file, an environment file, or a scoring script."""

    declared: str  # as written
    pointer: str  # where it is written in the linking document
    path: str | None  # the absolute path it resolves to; None when it is not a local path
    exists: bool
    candidates: tuple[str, ...] = ()  # every path tried, best first
    reason: str | None = None  # why it could not be resolved (not local, a placeholder, ...)


@dataclass(frozen=True)
class ScriptLink(Link):
    """The scoring script of an inference config (`entryScript`) or v2 deployment
    (`code_configuration.scoring_script` under `code`)."""

    code_directory: str | None = None


@dataclass
class HeldEnvironment:
    """A conda environment written in a document (a conda file, or a mapping inline in an
    environment, inference config or deployment), with what it is used for."""

    doc: Document
    env: CondaEnvironment
    uses: list[Use]

    def purposes(self) -> set[str]:
        return {u.purpose for u in self.uses}

    def uses_for(self, purpose: str) -> list[Use]:
        return [u for u in self.uses if u.purpose == purpose]


@dataclass
class Project:
    uses: dict[str, list[Use]] = field(default_factory=dict)  # environment file (abspath) -> uses
    scripts: dict[str, ScriptLink] = field(default_factory=dict)  # linking doc (abspath) -> script
    environments: dict[str, list[Link]] = field(default_factory=dict)  # linking doc -> env files

    def add_use(self, path: str, use: Use) -> None:
        uses = self.uses.setdefault(os.path.normpath(path), [])
        if use not in uses:
            uses.append(use)


# ----------------------------------------------------------------------------- public API

def project(ctx: Context) -> Project:
    """The project model of this scan, built once."""
    return ctx.model("project-links", lambda: build_project(ctx))


def scoring_script_of(doc: Document, ctx: Context) -> ScriptLink | None:
    """The scoring script an inference config or v2 deployment names (None when it names none).
    `link.exists` says whether the file is there; `ctx.document_at(link.path)` loads it."""
    if doc.kind not in LINKING_KINDS or not isinstance(doc.data, dict):
        return None
    return project(ctx).scripts.get(os.path.normpath(doc.abspath))


def environment_links_of(doc: Document, ctx: Context) -> list[Link]:
    """The conda or environment files an inference config or v2 deployment names."""
    if doc.kind not in LINKING_KINDS:
        return []
    return project(ctx).environments.get(os.path.normpath(doc.abspath), [])


def uses_of(doc: Document, ctx: Context) -> list[Use]:
    """What an environment file is used for: the configuration's declaration for it if any,
    otherwise every link to it. Empty: unknown purpose."""
    declared = declared_uses(doc, ctx)
    if declared:
        return declared
    return list(project(ctx).uses.get(os.path.normpath(doc.abspath), []))


def held_environments(doc: Document, ctx: Context) -> list[HeldEnvironment]:
    """Every conda environment written in `doc`, with its uses; built once per document."""
    if "held-environments" not in doc.cache:
        doc.cache["held-environments"] = _held(doc, ctx) if doc.error is None else []
    return doc.cache["held-environments"]


def pin_policy(doc: Document, ctx: Context) -> PinPolicy:
    """The pinning policy for a file: command-line options plus the file's configuration."""
    options = ctx.options
    base = options.pin_policy or PinPolicy.from_pinning(options.pinning)
    config = options.config_for(doc.abspath)
    if config is None:
        return base
    exempt = config.get("pin-exempt", {})
    exempt = exempt if isinstance(exempt, dict) else {}
    minor = config.get("pin-conda-minor", base.conda_minor)
    # `--pinning` on the command line wins over the file's `pinning`.
    pinning = options.pinning or config.get("pinning") or base.pinning
    from packaging.utils import canonicalize_name
    return PinPolicy(
        conda_minor=bool(minor),
        pinning=pinning if pinning in PINNING else base.pinning,
        exempt_conda=base.exempt_conda | {canonicalize_name(n) for n in exempt.get("conda", []) if isinstance(n, str)},
        exempt_pip=base.exempt_pip | {canonicalize_name(n) for n in exempt.get("pip", []) if isinstance(n, str)},
    )


def declared_uses(doc: Document, ctx: Context) -> list[Use]:
    if doc.kind not in ENVIRONMENT_KINDS:
        return []
    config = ctx.options.config_for(doc.abspath)
    if config is None:
        return []
    entries = config.matching("environment", doc.abspath)
    where = config.path or "configuration"
    return [Use(e["purpose"], where, "", "[[environment]]") for e in entries
            if isinstance(e, dict) and e.get("purpose") in PURPOSES]


def deployments_running(script_path: str, ctx: Context) -> list[Document]:
    """The v2 deployments of this scan (online and batch) whose `code_configuration` runs the
    script at `script_path`."""
    target = os.path.normpath(script_path)
    out = []
    for key, link in project(ctx).scripts.items():
        if link.exists and link.path and os.path.normpath(link.path) == target:
            doc = ctx.document_at(key)
            if doc is not None and doc.kind in (Kind.ONLINE_DEPLOYMENT_V2, Kind.BATCH_DEPLOYMENT_V2):
                out.append(doc)
    return out


def v2_conda_environments(doc: Document, ctx: Context) -> list[HeldEnvironment] | None:
    """The conda environment a v2 deployment runs its scoring script in, when the files say
    it: an inline `environment` with a `conda_file` (inline or a path), or a local environment
    YAML with one. None when it cannot be known: a registered or registry environment, an image
    or Docker build context without a conda file (its packages are not written anywhere we
    read), or a file that is missing or does not parse."""
    if doc.error is not None:
        return None
    environment = doc.get("/environment")
    if isinstance(environment, dict):
        return _conda_of(environment, doc, "/environment", ctx)
    if not isinstance(environment, str):
        return None
    link = next((link for link in project(ctx).environments.get(os.path.normpath(doc.abspath), [])
                 if link.pointer == "/environment"), None)
    if link is None or not link.exists or not link.path:
        return None
    env_doc = ctx.document_at(link.path)
    if env_doc is None or env_doc.error is not None or not isinstance(env_doc.data, dict):
        return None
    return _conda_of(env_doc.data, env_doc, "", ctx)


def _conda_of(environment: dict, holder: Document, base: str, ctx: Context) -> list[HeldEnvironment] | None:
    if environment.get("build") is not None:
        return None  # the Dockerfile decides what is installed
    conda = environment.get("conda_file")
    if isinstance(conda, dict):
        env = build_environment(conda, f"{base}/conda_file", holder.directory)
        return [HeldEnvironment(holder, env, [])] if env is not None else None
    declared = _text(conda)
    if declared is None:
        return None  # an image alone
    link = _resolve([holder.directory], declared, f"{base}/conda_file", holder)
    if not link.exists or not link.path:
        return None
    conda_doc = ctx.document_at(link.path)
    if conda_doc is None or conda_doc.error is not None:
        return None
    env = build_environment(conda_doc.data, "", conda_doc.directory)
    return [HeldEnvironment(conda_doc, env, [])] if env is not None else None


# ----------------------------------------------------------------------------- building links

def build_project(ctx: Context) -> Project:
    proj = Project()
    for doc in ctx.documents_of(*LINKING_KINDS):
        if doc.error is not None or not isinstance(doc.data, dict):
            continue
        if doc.kind == Kind.INFERENCE_V1:
            _link_inference_config(proj, doc)
        else:
            _link_v2_deployment(proj, doc, ctx)
    return proj


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _resolve(bases: list[str], relative: str, pointer: str, doc: Document) -> Link:
    if _NOT_LOCAL.match(relative) and not re.match(r"^[A-Za-z]:[\\/]", relative):
        return Link(relative, pointer, None, False, reason="not a local path")
    # Only inside the linking document's repository: a file elsewhere is never looked at.
    candidates = tuple(dict.fromkeys(path for b in bases
                                     if (path := fs.confine(relative, b, doc.directory)) is not None))
    if not candidates:
        return Link(relative, pointer, None, False, reason="outside the repository")
    for candidate in candidates:
        if fs.isfile(candidate):
            return Link(relative, pointer, candidate, True, candidates)
    return Link(relative, pointer, candidates[0], False, candidates, reason="no such file")


def v1_source_directories(doc: Document) -> list[str]:
    """Where an inference config's relative paths may start: `sourceDirectory` taken from each
    folder the CLI may run in (preflight.searchpath, the search the deploy model uses too)."""
    source = _text(doc.get("/sourceDirectory")) or ""
    if os.path.isabs(source):
        return []  # outside the repository: nothing it names is followed
    return [os.path.normpath(os.path.join(r, source)) for r in resolution_bases(doc.directory)]


def _link_inference_config(proj: Project, doc: Document) -> None:
    bases = v1_source_directories(doc)
    key = os.path.normpath(doc.abspath)
    links: list[Link] = []
    conda_file = _text(doc.get("/condaFile"))
    if conda_file:
        link = _resolve(bases, conda_file, "/condaFile", doc)
        links.append(link)
        if link.exists and link.path:
            proj.add_use(link.path, Use(V1_SCORING, doc.path, "/condaFile", "condaFile"))
    environment = doc.get("/environment")
    if isinstance(environment, str) and _text(environment):
        link = _resolve(bases, environment.strip(), "/environment", doc)
        links.append(link)
        if link.exists and link.path:
            proj.add_use(link.path, Use(V1_SCORING, doc.path, "/environment", "environment"))
    elif isinstance(environment, dict):
        python = environment.get("python")
        if not isinstance(python, dict):
            python = {}
        conda_path = _text(python.get("condaDependenciesFile"))
        if conda_path and not isinstance(python.get("condaDependencies"), dict):
            pointer = "/environment/python/condaDependenciesFile"
            link = _resolve(bases, conda_path, pointer, doc)
            links.append(link)
            if link.exists and link.path:
                exempt = "userManagedDependencies is true" if python.get("userManagedDependencies") is True else None
                proj.add_use(link.path, Use(V1_SCORING, doc.path, pointer, "environment.python.condaDependenciesFile",
                                            exempt))
    proj.environments[key] = links
    script = _text(doc.get("/entryScript"))
    if script:
        link = _resolve(bases, script, "/entryScript", doc)
        proj.scripts[key] = ScriptLink(link.declared, link.pointer, link.path, link.exists, link.candidates,
                                       link.reason, code_directory=os.path.dirname(link.path) if link.path else None)


def v2_serving_exemption(doc: Document) -> str | None:
    """Why a v2 deployment needs no inference server in its conda environment, if it does not."""
    environment = doc.get("/environment")
    if isinstance(environment, dict) and isinstance(environment.get("inference_config"), dict):
        return "a custom container with its own inference routes"
    code = doc.get("/code_configuration")
    if not isinstance(code, dict) or not _text(code.get("scoring_script")):
        return "a no-code deployment (Azure ML provides the scoring server)"
    return None


def _link_v2_deployment(proj: Project, doc: Document, ctx: Context) -> None:
    key = os.path.normpath(doc.abspath)
    batch = doc.kind == Kind.BATCH_DEPLOYMENT_V2
    purpose = V2_BATCH if batch else V2_SCORING
    exempt = None if batch else v2_serving_exemption(doc)
    links: list[Link] = []
    environment = doc.get("/environment")
    if isinstance(environment, dict):
        conda_file = _text(environment.get("conda_file"))
        if conda_file:
            link = _resolve([doc.directory], conda_file, "/environment/conda_file", doc)
            links.append(link)
            if link.exists and link.path:
                proj.add_use(link.path,
                             Use(purpose, doc.path, "/environment/conda_file", "environment.conda_file", exempt))
    elif isinstance(environment, str) and re.search(r"\.ya?ml$", environment.strip(), re.I):
        # A local environment YAML (`file:env.yml` or a bare path): its conda file serves this deployment.
        declared = environment.strip()
        link = _resolve([doc.directory], declared[5:] if declared.lower().startswith("file:") else declared,
                        "/environment", doc)
        links.append(link)
        if link.exists and link.path:
            use = Use(purpose, doc.path, "/environment", "environment", exempt)
            proj.add_use(link.path, use)
            env_doc = ctx.document_at(link.path)
            inner = _text(env_doc.get("/conda_file")) if env_doc is not None and env_doc.error is None else None
            if inner and env_doc is not None:
                inner_link = _resolve([env_doc.directory], inner, "/conda_file", doc)
                if inner_link.exists and inner_link.path:
                    proj.add_use(inner_link.path, Use(purpose, doc.path, "/environment", "environment → conda_file",
                                                      exempt))
    proj.environments[key] = links
    code = doc.get("/code_configuration")
    if isinstance(code, dict):
        script = _text(code.get("scoring_script"))
        code_dir = _text(code.get("code"))
        if script:
            if code_dir and _NOT_LOCAL.match(code_dir):
                proj.scripts[key] = ScriptLink(script, "/code_configuration/scoring_script", None, False,
                                               reason="the code is not a local folder")
            else:
                base = os.path.normpath(os.path.join(doc.directory, code_dir or "."))
                link = _resolve([base], script, "/code_configuration/scoring_script", doc)
                proj.scripts[key] = ScriptLink(link.declared, link.pointer, link.path, link.exists, link.candidates,
                                               link.reason, code_directory=base)


# ----------------------------------------------------------------------------- held environments

def _held(doc: Document, ctx: Context) -> list[HeldEnvironment]:
    data = doc.data
    if not isinstance(data, dict):
        return []
    out: list[HeldEnvironment] = []

    def hold(mapping: Any, base: str, uses: list[Use]) -> None:
        env = build_environment(mapping, base, doc.directory)
        if env is not None:
            out.append(HeldEnvironment(doc, env, uses))

    if doc.kind == Kind.CONDA:
        hold(data, "", uses_of(doc, ctx))
    elif doc.kind == Kind.ENVIRONMENT_V1:
        python = data.get("python")
        if isinstance(python, dict) and isinstance(python.get("condaDependencies"), dict):
            exempt = "userManagedDependencies is true" if python.get("userManagedDependencies") is True else None
            uses = [Use(u.purpose, u.by, u.pointer, u.key, u.exempt or exempt) for u in uses_of(doc, ctx)]
            hold(python["condaDependencies"], "/python/condaDependencies", uses)
    elif doc.kind == Kind.ENVIRONMENT_V2:
        if isinstance(data.get("conda_file"), dict):
            hold(data["conda_file"], "/conda_file", uses_of(doc, ctx))
    elif doc.kind == Kind.INFERENCE_V1:
        environment = data.get("environment")
        python = environment.get("python") if isinstance(environment, dict) else None
        if isinstance(python, dict) and isinstance(python.get("condaDependencies"), dict):
            exempt = "userManagedDependencies is true" if python.get("userManagedDependencies") is True else None
            use = Use(V1_SCORING, doc.path, "/environment", "environment", exempt)
            hold(python["condaDependencies"], "/environment/python/condaDependencies", [use])
    elif doc.kind in (Kind.ONLINE_DEPLOYMENT_V2, Kind.BATCH_DEPLOYMENT_V2):
        environment = data.get("environment")
        if isinstance(environment, dict) and isinstance(environment.get("conda_file"), dict):
            if doc.kind == Kind.BATCH_DEPLOYMENT_V2:
                use = Use(V2_BATCH, doc.path, "/environment/conda_file", "environment.conda_file")
            else:
                use = Use(V2_SCORING, doc.path, "/environment/conda_file", "environment.conda_file",
                          v2_serving_exemption(doc))
            hold(environment["conda_file"], "/environment/conda_file", [use])
    return out
