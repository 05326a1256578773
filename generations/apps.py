from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"

    def ready(self) -> None:
        # Webhook deliveries listen to generation_finished; importing them also registers their tasks.
        from generations.webhooks import receivers  # noqa: F401
        from gih import metrics

        metrics.connect()  # count terminal moves (generations/events.py) in /metrics
