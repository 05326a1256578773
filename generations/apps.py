from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"

    def ready(self) -> None:
        # Webhook deliveries listen to generation_finished; importing them also registers their tasks.
        # `Prefer: wait` requests are woken by a receiver of the same signal.
        from generations import waiting  # noqa: F401
        from generations.webhooks import receivers  # noqa: F401
        from gih import metrics

        metrics.connect()  # count terminal moves (generations/events.py) in /metrics
