"""The "Support staff" group: what `create_user --staff` gives a new admin login.

Support staff answer customers: they look up users, keys, credits and generations, grant goodwill credits,
revoke a leaked key and fail-and-refund a stuck generation. Signed corrections of balances (adjust), account types,
prices, models and users' own records stay with superusers or a group an administrator builds on purpose.
Every movement they make is recorded with them as its actor on the ledger.

The group is created by a data migration (accounts.0004) and re-created with these permissions if it is missing
(user_create); once it exists, administrators may change its permissions in the admin and those are kept.
"""

SUPPORT_STAFF_GROUP = "Support staff"

SUPPORT_STAFF_PERMISSIONS = (
    "accounts.view_user",
    "accounts.view_apikey",
    "accounts.change_apikey",  # revoke a leaked key; a key's name is its only other editable field
    "billing.view_creditaccount",
    "billing.view_creditbatch",
    "billing.view_ledgerentry",
    "billing.grant_credits",
    "generations.view_generation",
    "generations.view_generatedimage",
    "generations.view_imagemodel",
    "generations.view_modelprice",
    "generations.fail_generation",
)


def support_staff_group_ensure(*, apps):
    """The group, created with SUPPORT_STAFF_PERMISSIONS if missing.

    `apps` is django.apps.apps, or a migration's historical apps. Permissions are normally made after migrating
    (post_migrate): make any that are missing first, so this works inside a migration and after a test flush.
    """
    group_model, permission_model = apps.get_model("auth", "Group"), apps.get_model("auth", "Permission")
    group, created = group_model.objects.get_or_create(name=SUPPORT_STAFF_GROUP)
    if created:
        wanted = [name.split(".") for name in SUPPORT_STAFF_PERMISSIONS]
        for app_label in sorted({app_label for app_label, _ in wanted}):
            _create_permissions(apps.get_app_config(app_label), apps)
        permissions = [
            permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            for app_label, codename in wanted
        ]
        group.permissions.set(permissions)
    return group


def _create_permissions(app_config, apps) -> None:
    from django.contrib.auth.management import create_permissions  # (it makes missing content types too)

    # A historical app config has no models module, which create_permissions takes for "no models".
    had_models_module = getattr(app_config, "models_module", None)
    app_config.models_module = had_models_module or True
    try:
        create_permissions(app_config, verbosity=0, apps=apps)
    finally:
        app_config.models_module = had_models_module
