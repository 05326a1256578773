from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "gih.admin_site.HubAdminSite"

    def ready(self) -> None:
        super().ready()
        from gih import checks  # noqa: F401 (registers the hub's deployment checks)
