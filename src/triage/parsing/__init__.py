"""LogRecord -> ParsedEvent: PHI/secret redaction, masking, Drain3 template mining.

Public API (names are stable; everything else in the package is internal)::

    from triage.parsing import TemplateParser, ParserConfig, RuleSet

    parser = TemplateParser(ParserConfig.from_settings(settings))   # or TemplateParser() for defaults
    events = parser.parse_batch(records)       # list[ParsedEvent], one per LogRecord, same order
    ids, params, contents = parser.parse_columns(contents, timestamps)   # the same, as columns (bulk)
    ids, params, contents = parser.parse_micros(contents, micros)   # timestamps as Arrow's int64 microseconds;
    parser.note_seen(template_id, first, last)                      #   first/last seen then given per template
    parser.templates()                         # list[Template]: id, current text, version, count, first/last
                                               #   seen, merged_into (id of the template it merged into, or None)
    parser.template_text(template_id)          # current text of one template ("<*>" for variables)
    parser.template_versions(template_id=None) # list[TemplateVersion]: each text a template has had
    parser.redact(text)                        # the redaction rules alone (for text stored outside events)
    parser.save_state(path)                    # atomic JSON + sha256 (default Settings.miner_state_path)
    TemplateParser.load_state(path)            # raises triage.errors.IntegrityError if altered

* Every ``ParsedEvent`` (``schemas.py``) is already redacted: ``content``, ``params`` and ``template``
  never hold a value a redaction rule matched; they hold typed placeholders (``<EMAIL>``, ``<SSN>``...).
* ``template_id`` is stable: ``T`` + 12 hex digits of sha256 of the template's first text, so the same
  input always gets the same ids, in this process or another, fresh or reloaded from state.
* ``ParsedEvent.template`` is the template's text when that record was parsed; templates generalise as
  more messages arrive (each change is a new ``TemplateVersion``), so read ``template_text`` or
  ``templates()`` for the current text.
* A slot holding one of a few plain words (``stored as bytes`` / ``stored as values``) keeps one template
  per word; once the slot proves variable those templates merge into the oldest one: the others keep
  their ids, take its text as a new version and report ``merged_into``. New events use the survivor's id.
* ``ParserConfig`` holds the one configuration for every source: ``miner`` (Drain ``sim_th`` 0.75, depth
  5), ``rules_path`` (``Settings.parsing_rules_path``: extra YAML rules), ``cache_size``, ``enum_max_values``.
* Repeated identical messages are served from an in-memory cache (never persisted) and skip
  redaction, masking and Drain.

Modules: ``rules.py`` (rules as data, ``default_rules.yaml``, user YAML extension),
``redaction.py``, ``masking.py``, ``rendering.py`` (template text conventions), ``miner.py`` (the only
drain3 importer), ``state.py`` (checksummed state files), ``parser.py`` (``TemplateParser``).
"""

from triage.parsing.miner import MinerConfig
from triage.parsing.parser import ParserConfig, TemplateParser
from triage.parsing.rules import Rule, RuleSet
from triage.parsing.schemas import ParsedEvent, Template, TemplateVersion

__all__ = [
    "MinerConfig",
    "ParsedEvent",
    "ParserConfig",
    "Rule",
    "RuleSet",
    "Template",
    "TemplateParser",
    "TemplateVersion",
]
