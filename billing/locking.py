"""The account lock every credit movement takes first (billing/services/)."""

from billing.models import CreditAccount


def lock_account(user_id: int) -> CreditAccount:
    """Lock (creating if needed) the user's credit account row; call inside atomic().

    Every user has an account from creation on (billing.signals); the fallback covers a user
    row inserted some other way (raw SQL, fixtures) between the data migration and now.
    """
    try:
        return CreditAccount.objects.select_for_update().get(pk=user_id)
    except CreditAccount.DoesNotExist:
        CreditAccount.objects.get_or_create(user_id=user_id)
        return CreditAccount.objects.select_for_update().get(pk=user_id)
