"""Every user has a credit account: create the ones users made before the post_save signal lacked."""

from django.db import migrations


def forwards(apps, schema_editor):
    User = apps.get_model("accounts", "User")
    CreditAccount = apps.get_model("billing", "CreditAccount")
    missing = User.objects.filter(credit_account__isnull=True).values_list("pk", flat=True)
    CreditAccount.objects.bulk_create(
        [CreditAccount(user_id=user_id) for user_id in missing.iterator()], batch_size=1000, ignore_conflicts=True
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_money_in"), ("accounts", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
