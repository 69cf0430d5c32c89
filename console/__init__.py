"""Operator console: self-hosted GraphiQL page and its static assets (see console/graphiql.py)."""
