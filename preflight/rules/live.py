"""LIVE: the template compared with the Key Vaults as they are (`preflight scan --live`).

These rules are emitted by the live provider (`preflight.live`), not by a per-document check:
they need the vault's current state, read through Azure Resource Manager.
"""
from preflight.contract import declare
from preflight.findings import ERROR, INFO, WARNING

_RUN = """
    Runs only with `preflight scan --live --subscription ID --resource-group RG` (extra `live`:
    `pip install 'azureml-preflight[live]'`); needs read access to the vault (e.g. the Reader role).
"""

declare("LIVE001", "live-principal-dropped", ERROR,
        "A principal with access to the live vault today is missing after the deployment", f"""
    ## What it does
    Reads the vault the template deploys, predicts its access-policy list after the deployment
    (the vault's own list, then every `vaults/accessPolicies` add/replace/remove resource of the
    template, in order) and reports each principal that has an access policy today and would have
    none afterwards, by objectId (and applicationId) with the permissions it has now.
    {_RUN}
    ## Why it matters
    A `Microsoft.KeyVault/vaults` resource is sent as a PUT of the whole vault: its
    `accessPolicies` replace the live list. Policies added by the portal, `az keyvault
    set-policy`, another pipeline, or the Azure ML workspace for its own identity are dropped,
    and whatever used them (image builds, deployments, the workspace) fails with 403s.

    ## Example
    The template declares only the pipeline's principal `aaaa...`; the live vault also has the
    workspace identity `bbbb...` with `secrets:get,list,set`. LIVE001 names `bbbb...`.

    ## How to fix
    Add the principal to the template's `accessPolicies`, or grant it from every pipeline with a
    `Microsoft.KeyVault/vaults/accessPolicies` resource named `add`, make the vault resource
    conditional (`condition` / Bicep `if (createKeyVault)`), or switch the vault to Azure RBAC.
    """)

declare("LIVE002", "live-permissions-reduced", WARNING,
        "A principal keeps its access policy but loses permissions it has today", f"""
    ## What it does
    Compares, per principal that stays, the permissions of each category (keys, secrets,
    certificates, storage; case-insensitive; `all` covers everything) before and after the
    deployment, and names what is lost.
    {_RUN}
    ## Why it matters
    Someone granted the extra permissions outside the template; the redeploy silently removes
    them, and the next `set` or `delete` by that principal fails.

    ## Example
    Live: `secrets: [get, list, set]`; template: `secrets: [get, list]` -> loses `secrets:set`.

    ## How to fix
    Put the permissions the principal needs into the template's entry.
    """)

declare("LIVE003", "live-tenant-changed", ERROR,
        "The deployment changes the vault's tenant", f"""
    ## What it does
    Reports a vault whose `properties.tenantId` in the template resolves to a tenant other than
    the live vault's.
    {_RUN}
    ## Why it matters
    Access policies and identities belong to a tenant: moving the vault to another tenant makes
    every existing policy useless.

    ## Example
    Live tenant `72f988bf-...`, template `"tenantId": "11111111-..."` (a hard-coded GUID from
    another environment).

    ## How to fix
    Use `[subscription().tenantId]` (Bicep `subscription().tenantId`), deployed in the vault's
    own subscription, instead of a literal tenant id.
    """)

declare("LIVE004", "live-name-soft-deleted", ERROR,
        "The vault name is held by a soft-deleted vault the template would create", f"""
    ## What it does
    When the vault does not exist, looks up a soft-deleted vault of the same name in the
    template's location (`vaults.get_deleted`). Needs
    `Microsoft.KeyVault/locations/deletedVaults/read` on the subscription.
    {_RUN}
    ## Why it matters
    A soft-deleted vault keeps its name until it is purged: creating a vault with that name and
    `createMode: default` fails with a conflict, after the rest of the deployment has started.

    ## Example
    `kv-ml-dev` was deleted last week with 90 days of retention; the template creates
    `kv-ml-dev` again.

    ## How to fix
    Recover the vault (`az keyvault recover --name NAME`, or deploy once with
    `createMode: 'recover'`), purge it (`az keyvault purge --name NAME`) if purge protection
    allows, or use another name.
    """)

declare("LIVE005", "live-vault-new", INFO,
        "The vault does not exist yet: the deployment creates it", f"""
    ## What it does
    Reports that the vault (or its resource group) does not exist, so nobody can lose access to
    it; notes whether soft-deleted vaults could be checked.
    {_RUN}
    ## Why it matters
    It confirms the template's access policies are the vault's first ones; the next run of the
    same template is the one that replaces them.

    ## Example
    GET on the vault answers 404 `ResourceNotFound`.

    ## How to fix
    Nothing to fix. Make sure later runs keep every principal (see LIVE001).
    """)

declare("LIVE006", "live-vault-rbac", INFO,
        "The vault uses Azure RBAC: access policies grant no data access", f"""
    ## What it does
    Reports a vault whose data plane is authorised by Azure RBAC (`enableRbacAuthorization:
    true`) and that stays so after the deployment, so replacing its access policies removes no
    one's access.
    {_RUN}
    ## Why it matters
    It explains why no LIVE001 is reported for this vault.

    ## Example
    Live `enableRbacAuthorization: true`; the template omits it (an update keeps the model).

    ## How to fix
    Nothing to fix.
    """)

declare("LIVE007", "live-principals-added", INFO,
        "The deployment gives access to principals that have none today", f"""
    ## What it does
    Lists the principals that have no access policy on the live vault and would have one after
    the deployment.
    {_RUN}
    ## Why it matters
    New access is worth a look in review: it is often intended, sometimes a copied objectId.

    ## Example
    The template adds the build agent's managed identity with `secrets:get`.

    ## How to fix
    Nothing to fix when intended.
    """)

declare("LIVE008", "live-access-model-switch", WARNING,
        "The deployment switches the vault between access policies and Azure RBAC", f"""
    ## What it does
    Reports a template whose `enableRbacAuthorization` differs from the live vault's, listing
    the principals that have access policies today when the switch is to RBAC.
    {_RUN}
    ## Why it matters
    After a switch to RBAC every access policy stops granting access; after a switch back, every
    role assignment does. Without matching grants in the same deployment, applications lose
    access.

    ## Example
    Live vault in access-policy mode with 3 principals; the template sets
    `enableRbacAuthorization: true` and creates no role assignments.

    ## How to fix
    Create the role assignments (e.g. 'Key Vault Secrets User') for those principals in the same
    deployment, or keep the current access model.
    """)

declare("LIVE009", "live-prediction-unknown", INFO,
        "The vault's access policies after the deployment cannot be predicted", f"""
    ## What it does
    Reports a vault whose declared access policies (or those of an `accessPolicies` resource)
    cannot be resolved offline, so the live list cannot be compared, and says how many principals
    have access today.
    {_RUN}
    ## Why it matters
    The check could not tell whether anybody loses access.

    ## Example
    `"accessPolicies": "[parameters('policies')]"` with no value for `policies`.

    ## How to fix
    Pass the parameters the deployment uses (`--parameters FILE`, `--param NAME=VALUE`).
    """)

declare("LIVE010", "live-state-unavailable", WARNING,
        "The live vault could not be read; the reason is given", f"""
    ## What it does
    Reports a vault whose live state could not be read: no credential, 401 (token rejected),
    403 (no read permission), subscription not found, network failure, TLS failure, server
    errors after retries, timeout, or a name or scope the template computes at deploy time.
    A subscription that is not a GUID, or a resource group or vault name that breaks Azure's
    naming rules (such as a nested deployment's `resourceGroup: '..'`), is reported here and
    never requested; so is an answer over 4 MiB ("live answer too large", read no further) and
    an answer that leads elsewhere (a `nextLink` or redirect off the vault's paths, not sent).
    Offline findings are reported as usual. With `--live-required` it is an error.
    {_RUN}
    ## Why it matters
    Without the live state the check cannot say who would lose access.

    ## Example
    `HTTP 403 AuthorizationFailed`: the pipeline's identity cannot read the vault.

    ## How to fix
    Act on the reason: `az login` (or the service principal's environment variables), grant the
    Reader role on the vault, fix `--subscription`/`--resource-group`, trust the endpoint's CA with
    `REQUESTS_CA_BUNDLE`, map a computed name with `--vault-name TEMPLATE_NAME=LIVE_NAME`, or
    fix the nested deployment's `subscriptionId`/`resourceGroup`.
    """)

declare("LIVE011", "live-policy-target-missing", WARNING,
        "A `vaults/accessPolicies` resource targets a vault that does not exist", f"""
    ## What it does
    Reports a `Microsoft.KeyVault/vaults/accessPolicies` resource (`add`, `replace`, `remove`)
    whose vault the template does not deploy and that does not exist in the target resource
    group.
    {_RUN}
    ## Why it matters
    The operation is a PUT below the vault: Resource Manager rejects it when the parent vault is
    missing, usually because the vault's name or resource group differs between environments.

    ## Example
    `"name": "[concat(parameters('vaultName'), '/add')]"` with `vaultName` set to a vault that
    was never created in this resource group.

    ## How to fix
    Deploy the vault first (in this template or an earlier step), or correct the vault's name or
    the deployment's resource group.
    """)
