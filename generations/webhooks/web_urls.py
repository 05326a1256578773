from django.urls import path

from generations.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("webhooks/", views.webhooks, name="list"),
    path("webhooks/<str:endpoint_id>/delete/", views.webhook_delete, name="delete"),
    path("webhooks/<str:endpoint_id>/rotate-secret/", views.webhook_rotate, name="rotate"),
    path("webhooks/deliveries/<str:delivery_id>/resend/", views.webhook_resend, name="resend"),
]
