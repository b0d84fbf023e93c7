"""Billing: plans and their limits, usage counted per month, Stripe subscriptions."""
