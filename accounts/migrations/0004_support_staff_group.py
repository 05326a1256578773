"""The "Support staff" group and its permissions (accounts/staff.py), for `create_user --staff`."""

from django.db import migrations

from accounts.staff import SUPPORT_STAFF_GROUP, support_staff_group_ensure


def create_support_staff_group(apps, schema_editor) -> None:
    support_staff_group_ensure(apps=apps)


def remove_support_staff_group(apps, schema_editor) -> None:
    apps.get_model("auth", "Group").objects.filter(name=SUPPORT_STAFF_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_lowercase_emails"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("billing", "0006_creditaccount_money_permissions"),
        ("generations", "0006_generation_fail_permission"),
    ]

    operations = [migrations.RunPython(create_support_staff_group, remove_support_staff_group)]
