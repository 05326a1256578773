from django.core.management.base import BaseCommand, CommandError

from accounts import services


class Command(BaseCommand):
    help = "Revoke an API key, given the raw key, its display prefix (gih_live_abcd1234…) or its bare 8-char prefix."

    def add_arguments(self, parser) -> None:
        parser.add_argument("key_or_prefix")

    def handle(self, *args, key_or_prefix: str, **options):
        api_key = services.api_key_find(key_or_prefix=key_or_prefix)
        if api_key is None:
            raise CommandError("No API key matches that key or prefix.")
        if api_key.is_revoked:
            self.stdout.write(f"{api_key.display_prefix} was already revoked at {api_key.revoked_at.isoformat()}.")
            return
        services.api_key_revoke(api_key=api_key)
        self.stdout.write(f"Revoked {api_key.display_prefix} ({api_key.name}) of {api_key.user.email}.")
