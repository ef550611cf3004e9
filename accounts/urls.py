"""Sign-in and password pages (Django's auth views with our templates, Django's url names) and the
organisation, member and invitation pages. Mounted at /accounts/."""
from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),  # POST only (Django 5)
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password_reset/", auth_views.PasswordResetView.as_view(), name="password_reset"),
    path("password_reset/done/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),

    path("organisations/", views.organisation_list, name="organisation_list"),
    path("organisations/new/", views.organisation_create, name="organisation_create"),
    path("organisations/<slug:slug>/", views.organisation_detail, name="organisation_detail"),
    path("organisations/<slug:slug>/leave/", views.organisation_leave, name="organisation_leave"),
    path("organisations/<slug:slug>/members/", views.organisation_members, name="organisation_members"),
    path("organisations/<slug:slug>/members/invite/", views.organisation_invite, name="organisation_invite"),
    path("organisations/<slug:slug>/members/<int:membership_id>/role/", views.membership_set_role,
         name="membership_set_role"),
    path("organisations/<slug:slug>/members/<int:membership_id>/remove/", views.membership_remove,
         name="membership_remove"),
    path("organisations/<slug:slug>/invitations/<int:invitation_id>/revoke/", views.invitation_revoke,
         name="invitation_revoke"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
