from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import exports, generation_actions, key_limits_view, playground, views

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path("password-reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="accounts/password_reset_complete.html"),
        name="password_reset_complete",
    ),
    path("keys/", views.api_keys, name="keys"),
    path("keys/new/", views.api_key_create_view, name="key_create"),
    path("keys/<int:key_id>/revoke/", views.api_key_revoke_view, name="key_revoke"),
    path("keys/<int:key_id>/limits/", key_limits_view.api_key_limits_view, name="key_limits"),
    path("credits/", views.credits_history, name="credits"),
    path("credits/export.csv", exports.credits_export, name="credits_export"),
    path("generations/", views.generation_list, name="generations"),
    path("generations/<str:generation_id>/", views.generation_detail, name="generation_detail"),
    path("generations/<str:generation_id>/status.json", views.generation_status, name="generation_status"),
    path(
        "generations/<str:generation_id>/cancel/",
        generation_actions.generation_cancel_view,
        name="generation_cancel",
    ),
    path("playground/", playground.playground, name="playground"),
    path("playground/quote.json", playground.playground_quote, name="playground_quote"),
    path("playground/stream", playground.playground_stream, name="playground_stream"),
    path("docs/", views.docs, name="docs"),
    path("language/", views.language_set, name="set_language"),
]
