"""The ARM template engine: expression language, evaluator, template model, parameters, and
what a template deploys. Rules never parse `[...]` themselves; they use this interface.

Layers, each usable on its own:

    expressions   compile_string(text) -> Node | str; parse(body) -> Node; to_text(node)
                  Nodes: Literal, Call (name lower-cased), Member, Index, Invalid (never raises)
    values        Unknown (why: `.needs`, `.reason`; symbolic `.key`; string `.parts`;
                  `.nonempty`), ResourceRef (resourceId with unknown parts), RuntimeValue
                  (reference()/list*(): `.target`, `.path`); is_known, find_unknown, same_text,
                  equal3, describe
    template      Template.from_json(data, document, pointer) or the dataclasses directly:
                  Template, ParameterDecl, VariableDecl, FunctionDecl, ResourceDecl (type, name,
                  api_version, condition, copy, properties, existing, pointer, children, body,
                  deployment), DeploymentSpec, CopySpec; ABSENT marks "not in the template"
    references    references_of(template) -> TemplateReferences (one walk, kept on the template):
                  `.expressions` and `.of(decl)`, each an Expression with `.pointer`,
                  `.direct_references` / `.references` (Reference: kind parameters|variables,
                  name, conditional: in an `if()` branch), `.possible_references()` (cheap
                  superset), `.calls` (function names), `.owner`; nested_templates(template)
    evaluator     evaluate(raw_or_node, scope) -> value | Unknown; standalone_scope(template,
                  parameters) for one template; Scope/Frame/Session/DeploymentContext
    parameters    parameter_sets(doc, ctx, declared) -> [ParameterSet]; paired_files(path);
                  read_parameter_file(data, path, abspath); register_parameter_finder(find)
                  (a front end's own parameter files, e.g. `.bicepparam`)
    deployments   evaluations(doc, ctx) -> [Evaluation] (one per parameter set, cached);
                  deployed_resources(doc, ctx, type=None) -> [DeployedResource];
                  template_of(doc) -> Template; parameter_sets_of(doc, ctx) (cached, no
                  evaluation); may_deploy(doc, type) (False: no evaluation can have one)
    vaults        vault_deployments(doc, ctx) -> [VaultDeployment] (cached): the Key Vault
                  decision procedure and the live check's input

For another front end (Bicep): build a `Template` from the dataclasses. Raw values may hold
expression trees (`Node`) anywhere a JSON template holds a `[...]` string, and JSON values
elsewhere; `pointer` fields are whatever `document.locate()` understands. `Template.document`
is the source document; `evaluations()` needs a document with `.data`, `.path`, `.abspath` and
a `.cache` dict, or call `Evaluation(document, template, ParameterSet(None), ctx)` directly.

Ownership: a model holds its parts, and a part's pointer back to its owner is weak
(`template.Backref`: `ResourceDecl.template` and `.parent`, `DeployedResource.evaluation`,
`Frame.deployment`), so a checked file's models are freed by reference counting, never left in
cycles for the collector (tests/test_model_cycles.py). What keeps an owner alive: a template is
held by its frames and by its document's cache, an evaluation by its document's cache
(`evaluations()`), and each resource instance reaches its document through its frame. Keep the
`Evaluation` you built directly while you use its resources; reading a back-pointer whose owner
is gone raises ReferenceError. The one cycle left is a document and its cache (its models point
back at it): the engine clears the cache when it drops the document.

For rules about other resource types (autoscale settings, online deployments):

    for res in deployed_resources(doc, ctx, "Microsoft.Insights/autoscalesettings"):
        if res.deployed is False: continue            # condition false, count 0, existing
        value = res.get("properties/profiles/0/capacity/minimum")   # value | Unknown | ABSENT
        pointer = res.pointer_of("properties/profiles/0/capacity/minimum")
        res.status            # deployed | guarded | unknown | not-deployed, with reasons
        res.name, res.type, res.api_version, res.parameter_file, res.local, res.anchor

`res.pointer_of` points into `res.document`; when `res.local` is False (a relativePath-linked
file) report at `res.anchor`, the deployment in the scanned document that links to it.

For the live check, `vault_deployments(doc, ctx)` gives per vault and parameter set: `pointer`
(in the scanned document), `source_document`/`source_pointer`, `name` (None when unknown) and
`name_expression`, `subscription_id`/`resource_group` (nested-deployment overrides, None when
not overridden), `api_version`, `tenant_id`, `branch` (not-deployed | rbac | preserving |
declared | missing | unknown), `policies` / `normalized_policies` (when known),
`enable_rbac_authorization` (True/False/None=absent/Unknown), `create_mode`, `operations`
(`vaults/accessPolicies` add/replace/remove on the same vault, in document order, each with
`kind` and `normalized_policies`), `parameter_file` (None: the template's default values),
`status` (with the guards of parameter-driven conditions) and `workspaces` (Azure ML
workspaces in the template whose `keyVault` is this vault).
"""
from .deployments import DeployedResource, Evaluation, Status, deployed_resources, evaluations, template_of
from .evaluator import DeploymentContext, Scope, evaluate, standalone_scope
from .expressions import compile_string, parse, to_text
from .references import Expression, Reference, TemplateReferences, nested_templates, references_of
from .template import ABSENT, ResourceDecl, Template
from .values import ResourceRef, RuntimeValue, Unknown, describe, find_unknown, is_known, is_unknown
from .vaults import PolicyOperation, VaultDeployment, normalize_policy, vault_deployments

__all__ = [
    "ABSENT", "DeployedResource", "DeploymentContext", "Evaluation", "Expression", "PolicyOperation", "Reference",
    "ResourceDecl",
    "ResourceRef", "RuntimeValue", "Scope", "Status", "Template", "Unknown", "VaultDeployment",
    "compile_string", "deployed_resources", "describe", "evaluate", "evaluations", "find_unknown", "is_known",
    "is_unknown", "nested_templates", "normalize_policy", "parse", "references_of", "standalone_scope",
    "TemplateReferences", "template_of", "to_text", "vault_deployments",
]
