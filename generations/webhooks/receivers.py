"""generation_finished → one delivery per subscribed endpoint (connected in GenerationsConfig.ready)."""

from django.dispatch import receiver

from generations.events import generation_finished
from generations.webhooks.services import deliveries_create_for_generation


@receiver(generation_finished, dispatch_uid="webhooks.deliveries_create")
def deliveries_on_finished(sender, generation, status: str, **kwargs) -> None:
    deliveries_create_for_generation(generation=generation, status=status)
