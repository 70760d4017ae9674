from __future__ import annotations

from django.urls import path

from deals import alert_views, triage_views, views

urlpatterns = [
    path("", views.dashboard_page, name="dashboard"),
    path("live", views.live, name="live"),
    path("status", views.status_line, name="status_line"),
    path("tokens", views.token_plan_page, name="token_plan"),
    path("refresh", views.refresh, name="refresh"),
    path("refresh/<slug:task_id>", views.refresh_status, name="refresh_status"),
    # `path`, not `str`: a row stored before ASINs were checked may hold a "/", and its link
    # must still reverse (a NoReverseMatch would take down every page that lists it).
    path("deal/<path:asin>", views.deal_detail, name="deal_detail"),
    path("api/total_deals", views.total_deals, name="total_deals"),
    path("api/deals", views.api_deals, name="api_deals"),
    path("deals.csv", views.deals_csv, name="deals_csv"),
    path("costs", views.seller_costs, name="seller_costs"),
    path("restrictions", views.restrictions, name="restrictions"),
    path("gated/<path:asin>", views.mark_gated, name="mark_gated"),
    path("alerts", alert_views.alert_rules, name="alert_rules"),
    path("alerts/new", alert_views.alert_rule_new, name="alert_rule_new"),
    path("alerts/history", alert_views.alert_history, name="alert_history"),
    path("alerts/<int:pk>", alert_views.alert_rule_edit, name="alert_rule_edit"),
    path("alerts/<int:pk>/test", alert_views.alert_rule_test, name="alert_rule_test"),
    path("alerts/<int:pk>/pause", alert_views.alert_rule_pause, name="alert_rule_pause"),
    path("alerts/<int:pk>/delete", alert_views.alert_rule_delete, name="alert_rule_delete"),
    path("triage/<path:asin>", triage_views.triage_action, name="triage"),
    path("buy-list", triage_views.buy_list, name="buy_list"),
    path("searches", triage_views.saved_searches, name="saved_searches"),
    path("searches/new", triage_views.saved_search_create, name="saved_search_create"),
    path("searches/<int:pk>", triage_views.saved_search_edit, name="saved_search_edit"),
    path("searches/<int:pk>/delete", triage_views.saved_search_delete, name="saved_search_delete"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/worker", views.healthz, name="healthz_worker"),
]
