"""Weaviate storage: the only package that imports ``weaviate``.

Connection and the embedded server, every collection's schema, tenants (= cubes), filters,
migrations and one module per kind of data. The rest of the package uses :class:`MemoryStore`.
"""
