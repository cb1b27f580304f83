"""Weaviate storage: the only package that imports ``weaviate``.

Where things are:

* :mod:`.store`      ``MemoryStore``, the facade the rest of the package uses
* :mod:`.schema`     every collection (the Weaviate schema), tenant names of cubes
* :mod:`.memories`   memory reads and writes
* :mod:`.memory_search` memory searches (BM25, vector, hybrid: recall candidates)
* :mod:`.relations`, :mod:`.messages`, :mod:`.tasks`   the other kinds of data
* :mod:`.items`      the LangGraph store's items (behind ``langgraph.store.WeaviateStore``)
* :mod:`.hybrid`     the one hybrid (BM25 + vector) query helper and its score fusion
* :mod:`.filters`    the filter DSL -> Weaviate filters
* :mod:`.codec`      records <-> object properties
* :mod:`.errors`     Weaviate client errors -> the package's typed exceptions
* :mod:`.migrations` schema versions and the ordered migrations ``setup()`` applies
* :mod:`.tenants`    the bound on loaded cubes (idle tenants are offloaded)
* :mod:`.embedded`   the connection and the embedded server
"""
