"""memos-integrations: MemOS/MemnetAI-style long-term memory on Weaviate.

The lifecycle is recall -> inject -> generate -> memorize. The engine lives in
:mod:`memos_integrations.engine` (steps in ``pipeline``, Weaviate in ``storage``); framework faces in ``langgraph``, ``langchain``, ``llama_index``
and ``server``.
"""

from memos_integrations.errors import MemosError

__version__ = "0.1.0"
__all__ = ["MemosError", "__version__"]
