"""REST API v1: one router, each app registers its viewsets in its own api module."""
from django.urls import include, path

urlpatterns: list = []
