"""Tortoise models, one module per domain. "MODEL_MODULES" lists them for Tortoise."""

MODEL_MODULES = [
    "models.organisations",
    "models.users",
    "models.auth",
    "models.tokens",
    "models.audit",
    "models.email_templates",
    "models.invites",
    "models.accounts",
    "models.outbox",
    "models.devices",
    "models.keys",
]
