"""The engine's search language, the part a site's collections need (searchbackend/SyntaxChecker.java).

`field=value` and `field!=value` with `*` wildcards, clauses joined by `and` / `or` (`and` binds tighter), free
text (a word with no operator: a substring of any text field, BaseConditionFieldAutoCompleter
.buildFreeTextConditionSql), `page N` (rows (N-1)*max+1 to N*max, SyntaxChecker.getPagePhrase), and
`sortby`, which is parsed and ignored (the lab keeps the collection's own order). Values are compared
case-insensitively unless `case_sensitive=true` (absent is false: AbstractBackendCollectionResource).
"""

import fnmatch
import re

_CLAUSE = re.compile(r'^\s*(?P<field>[\w.]+)\s*(?P<op>!=|=)\s*(?P<value>"[^"]*"|\S*)\s*$')
_PAGE = re.compile(r"\s+page\s+(\d+)\s*$", re.I)
_SORT = re.compile(r"\s+sortby\s+.*$", re.I)
_PREFIX = re.compile(r"^\s*\w+\s*:\s*")  # "Hosts: name=x" names the searched object


class Query:
    """A parsed search: match(entity_fields) and the page it asks for."""

    def __init__(self, text, case_sensitive=False):
        text = " " + _PREFIX.sub("", text or "")
        fold = (lambda value: value) if case_sensitive else str.lower
        page = _PAGE.search(text)
        self.page = int(page.group(1)) if page else None
        text = _SORT.sub("", _PAGE.sub("", text))
        clauses = [
            [c for c in re.split(r"\s+and\s+", alt.strip(), flags=re.I) if c.strip()]
            for alt in re.split(r"\s+or\s+", text.strip(), flags=re.I)
        ]
        self.fields = {m.group("field").lower() for alt in clauses for m in map(_CLAUSE.match, alt) if m}
        # the comparisons the lab does not evaluate (<, >, <=, >=), which would otherwise be taken as free text
        self.unsupported = [c.strip() for alt in clauses for c in alt if not _CLAUSE.match(c) and re.search("[<>=]", c)]
        self.alternatives = [[_clause(c, fold) for c in alt] for alt in clauses]

    def match(self, fields):
        """fields: name -> text value (None when the entity has none), as the search backend's columns."""
        return any(all(clause(fields) for clause in clauses) for clauses in self.alternatives)

    def paginate(self, items, size):
        if self.page is None or size is None:
            return items[:size] if size is not None else items
        return items[(self.page - 1) * size : self.page * size]


def _clause(text, fold):
    match = _CLAUSE.match(text)
    if match is None:
        word = fold(text.strip().strip('"'))
        return lambda fields: any(word in fold(v) for v in fields.values() if isinstance(v, str))
    field, op, pattern = match.group("field").lower(), match.group("op"), fold(match.group("value").strip('"'))

    def test(fields):
        value = fields.get(field)
        found = value is not None and fnmatch.fnmatchcase(fold(str(value)), pattern)
        return found if op == "=" else not found

    return test
