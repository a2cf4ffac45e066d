"""Tests that run the integration inside Home Assistant's test harness."""
