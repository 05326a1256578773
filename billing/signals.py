"""Every user has a credit account from the moment the user row exists.

A post_save receiver rather than a step in accounts.services.user_create: users are also
made by createsuperuser, the admin's add form and third-party code, none of which call our
service, and staff must find every user on the credit pages (issue 17).
"""

from django.conf import settings
from django.db.models.signals import post_save

from billing.models import CreditAccount


def create_credit_account(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:  # raw: loaddata brings its own rows
        # By id: passing the instance would cache this account on it, and a later type change
        # made through the service would not show on that cached copy.
        CreditAccount.objects.get_or_create(user_id=instance.pk)


def connect() -> None:
    post_save.connect(create_credit_account, sender=settings.AUTH_USER_MODEL, dispatch_uid="billing.credit_account")
