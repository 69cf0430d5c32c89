"""Use cases per domain. They take an Actor and plain arguments and return models; they never import
``schema``. Row scoping by organisation lives only in ``resolvers._scope``."""
