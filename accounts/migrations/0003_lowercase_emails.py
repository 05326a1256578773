"""Lower-case stored email addresses, so log-in (which looks them up lower-cased) finds every user.

Users have been created lower-cased from the start (UserManager), but rows written otherwise (a raw import, an
older admin form) may not be. An address whose lower-case form another user already has is left as it is, and
named on the console: merging two accounts is a person's decision, not a migration's.
"""

from django.db import migrations
from django.db.models.functions import Lower


def lowercase_emails(apps, schema_editor) -> None:
    User = apps.get_model("accounts", "User")
    taken = set(User.objects.filter(email=Lower("email")).values_list("email", flat=True))
    mixed = User.objects.exclude(email=Lower("email")).order_by("pk")
    for user in mixed:
        lower = user.email.lower()
        if lower in taken:
            print(f"\n  accounts.0003: left {user.email!r} (user {user.pk}) as it is: {lower!r} is another user.")
            continue
        User.objects.filter(pk=user.pk).update(email=lower)
        taken.add(lower)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_user_language")]

    operations = [migrations.RunPython(lowercase_emails, migrations.RunPython.noop)]
