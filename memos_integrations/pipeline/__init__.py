"""Pure recall and memorize steps. Each takes what it uses (a :class:`PipelineDeps` or explicit
arguments), never the engine."""
