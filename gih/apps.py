from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "gih.admin_site.HubAdminSite"

    def ready(self) -> None:
        super().ready()
        from gih import checks  # noqa: F401 (registers the hub's deployment checks)
        from gih.http_pool_check import install_http_pool_check
        from gih.pool_check import install_pool_check

        install_pool_check()  # the pooled connections' check without a round trip (gih/pool_check.py)
        install_http_pool_check()  # urllib3's look at kept-alive connections without a hub round
